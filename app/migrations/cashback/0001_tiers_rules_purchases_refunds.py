from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.cashback.models import PurchaseStatus
from app.catalog.models import Channel
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='CashbackRule',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('percent', fields.DecimalField(max_digits=9, decimal_places=4)),
                ('merchant_id', fields.BigIntField(null=True, db_index=True)),
                ('category', fields.CharField(null=True, max_length=80)),
                ('channels', fields.CharField(null=True, max_length=32)),
                ('currency', fields.CharField(max_length=3)),
                ('minimum_spend_minor', fields.BigIntField(null=True)),
                ('max_cashback_minor', fields.BigIntField(null=True)),
                ('starts_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('terms', fields.TextField(unique=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'cashback_rules', 'app': 'cashback', 'constraints': [CheckConstraint(check='percent >= 0 AND percent <= 100', name='cashback_rules_percent')], 'pk_attr': 'id', 'table_description': 'A program rule: a percent for the purchases it matches, optionally capped.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Purchase',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('store_id', fields.BigIntField()),
                ('merchant_id', fields.BigIntField(db_index=True)),
                ('customer_id', fields.BigIntField()),
                ('external_id', fields.CharField(max_length=128)),
                ('channel', fields.CharEnumField(description='ONLINE: ONLINE\nIN_STORE: IN_STORE', enum_type=Channel, max_length=16)),
                ('currency', fields.CharField(max_length=3)),
                ('total_minor', fields.BigIntField()),
                ('credits_used_minor', fields.BigIntField(default=0)),
                ('redeemed_minor', fields.BigIntField(default=0)),
                ('refunded_minor', fields.BigIntField(default=0)),
                ('cashback_minor', fields.BigIntField(default=0)),
                ('cashback_reversed_minor', fields.BigIntField(default=0)),
                ('cashback_available_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cashback_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('explanation', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('no_cashback_reason', fields.CharField(null=True, max_length=32)),
                ('tier_code', fields.CharField(null=True, max_length=32)),
                ('terms_version', fields.IntField(null=True)),
                ('status', fields.CharEnumField(default=PurchaseStatus.COMPLETED, description='COMPLETED: COMPLETED\nPARTIALLY_REFUNDED: PARTIALLY_REFUNDED\nREFUNDED: REFUNDED', enum_type=PurchaseStatus, max_length=24)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'cashback_purchases', 'app': 'cashback', 'unique_together': (('store_id', 'external_id'),), 'constraints': [CheckConstraint(check='total_minor >= 0 AND credits_used_minor >= 0 AND redeemed_minor >= 0 AND refunded_minor >= 0 AND refunded_minor <= total_minor AND cashback_minor >= 0 AND cashback_reversed_minor >= 0 AND cashback_reversed_minor <= cashback_minor', name='cashback_purchases_amounts')], 'indexes': [Index(fields=['customer_id', 'occurred_at'])], 'pk_attr': 'id', 'table_description': 'A purchase reported by a store, with the cashback it earned and what was refunded.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PurchaseItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('purchase', fields.ForeignKeyField('cashback.Purchase', source_field='purchase_id', db_index=True, db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.CASCADE)),
                ('sku', fields.CharField(max_length=64)),
                ('name', fields.CharField(null=True, max_length=200)),
                ('category', fields.CharField(null=True, max_length=80)),
                ('quantity', fields.IntField()),
                ('unit_price_minor', fields.BigIntField()),
            ],
            options={'table': 'cashback_purchase_items', 'app': 'cashback', 'pk_attr': 'id', 'table_description': 'A line of a purchase, as the store reported it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Refund',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('purchase', fields.ForeignKeyField('cashback.Purchase', source_field='purchase_id', db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.CASCADE)),
                ('store_id', fields.BigIntField()),
                ('idempotency_key', fields.CharField(max_length=128)),
                ('amount_minor', fields.BigIntField()),
                ('reason', fields.CharField(null=True, max_length=500)),
                ('cashback_taken_minor', fields.BigIntField(default=0)),
                ('from_pending_minor', fields.BigIntField(default=0)),
                ('from_available_minor', fields.BigIntField(default=0)),
                ('clawback_minor', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'cashback_refunds', 'app': 'cashback', 'unique_together': (('store_id', 'idempotency_key'),), 'constraints': [CheckConstraint(check='amount_minor > 0', name='cashback_refunds_amount')], 'pk_attr': 'id', 'table_description': 'A return of all or part of a purchase, idempotent by (store, key).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=60)),
                ('multiplier', fields.DecimalField(max_digits=6, decimal_places=3)),
                ('minimum_spend_minor', fields.BigIntField()),
            ],
            options={'table': 'cashback_tiers', 'app': 'cashback', 'constraints': [CheckConstraint(check='multiplier > 0 AND minimum_spend_minor >= 0', name='cashback_tiers_values')], 'pk_attr': 'id', 'table_description': 'A level of the program, reached by spending, that multiplies the cashback percent.'},
            bases=['Model'],
        ),
    ]
