from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('redemptions', '0002_check_constraints')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Redemption',
            index=Index(fields=['captured_at']),
        ),
    ]
