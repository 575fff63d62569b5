from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ProgramSettings',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('currency_code', fields.CharField(default='USD', max_length=3)),
                ('pending_days', fields.IntField(default=30)),
                ('credit_validity_days', fields.IntField(default=365)),
                ('max_redemption_share', fields.DecimalField(default='0.5', max_digits=5, decimal_places=4)),
                ('minimum_redemption_minor', fields.BigIntField(default=100)),
                ('terms_version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'program_settings', 'app': 'program', 'pk_attr': 'id', 'table_description': 'The one row of program settings (id 1).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TermsVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.IntField(unique=True)),
                ('text', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'program_terms_versions', 'app': 'program', 'pk_attr': 'id', 'table_description': 'Every text the terms have had. Credits record the version they were earned under.'},
            bases=['Model'],
        ),
    ]
