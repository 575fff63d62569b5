from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('offers', '0001_offers_standings_and_uses')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Offer',
            index=Index(fields=['status', 'uses_count']),
        ),
    ]
