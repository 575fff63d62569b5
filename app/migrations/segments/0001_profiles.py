from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='CustomerProfile',
            fields=[
                ('customer_id', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('purchase_count', fields.IntField(default=0)),
                ('first_purchase_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_purchase_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('spend_minor', fields.BigIntField(default=0)),
                ('online_count', fields.IntField(default=0)),
                ('in_store_count', fields.IntField(default=0)),
                ('favorite_category', fields.CharField(null=True, max_length=80)),
                ('favorite_merchant_ids', fields.CharField(null=True, max_length=200)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer_profiles', 'app': 'segments', 'constraints': [CheckConstraint(check='purchase_count >= 0 AND spend_minor >= 0 AND online_count >= 0 AND in_store_count >= 0', name='customer_profiles_counts')], 'pk_attr': 'customer_id', 'table_description': "A customer's purchase behaviour, kept current in the transactions that record their"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProfileSpendDay',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer_id', fields.BigIntField()),
                ('day', fields.DateField()),
                ('merchant_id', fields.BigIntField()),
                ('category', fields.CharField(max_length=80)),
                ('spend_minor', fields.BigIntField()),
            ],
            options={'table': 'profile_spend_days', 'app': 'segments', 'unique_together': (('customer_id', 'day', 'merchant_id', 'category'),), 'constraints': [CheckConstraint(check='spend_minor >= 0', name='profile_spend_days_spend')], 'pk_attr': 'id', 'table_description': 'What a customer spent on one day at one merchant in one category (net of refunds):'},
            bases=['Model'],
        ),
    ]
