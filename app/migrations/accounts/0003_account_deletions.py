from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('accounts', '0002_sessions_partners_referrals')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountDeletion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer_id', fields.BigIntField(unique=True)),
                ('deleted_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_deletions', 'app': 'accounts', 'pk_attr': 'id', 'table_description': 'A customer who deleted their account, for the operator: the id their anonymised'},
            bases=['Model'],
        ),
    ]
