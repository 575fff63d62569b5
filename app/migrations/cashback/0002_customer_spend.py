from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('cashback', '0001_tiers_rules_purchases_refunds')]

    initial = False

    # No data step: a customer without a row has their spend computed from the purchases
    # at the first read or write that needs it (`python -m app rebuild-tier-spend` fills
    # every row at once).
    operations = [
        ops.CreateModel(
            name='CustomerSpend',
            fields=[
                ('customer_id', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('window_spend_minor', fields.BigIntField()),
                ('changes_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.BigIntField()),
            ],
            options={'table': 'cashback_customer_spend', 'app': 'cashback', 'pk_attr': 'customer_id', 'table_description': 'What a customer spent (net of refunds) on purchases of the tier window, kept current'},
            bases=['Model'],
        ),
        # CreateModel makes no CHECK constraint from its options.
        ops.AddConstraint(
            'CustomerSpend',
            CheckConstraint(
                check='window_spend_minor >= 0 AND version >= 1',
                name='cashback_customer_spend_values',
            ),
        ),
    ]
