from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('program', '0001_program_settings_and_terms')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ProgramSettings',
            name='max_purchase_total_minor',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='ProgramSettings',
            name='max_redemption_amount_minor',
            field=fields.BigIntField(null=True),
        ),
    ]
