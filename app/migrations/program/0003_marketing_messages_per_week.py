from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('program', '0002_purchase_and_redemption_maxima')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ProgramSettings',
            name='marketing_messages_per_week',
            field=fields.IntField(default=3),
        ),
    ]
