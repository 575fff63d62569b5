from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('cashback', '0003_check_constraints')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Purchase',
            index=Index(fields=['occurred_at'], name='cashback_purchases_occurred'),
        ),
    ]
