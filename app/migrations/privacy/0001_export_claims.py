from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ExportClaim',
            fields=[
                ('customer_id', fields.BigIntField(primary_key=True, unique=True, db_index=True)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'privacy_export_claims', 'app': 'privacy', 'pk_attr': 'customer_id', 'table_description': 'An export being built for a customer: one at a time, across every process. The row'},
            bases=['Model'],
        ),
    ]
