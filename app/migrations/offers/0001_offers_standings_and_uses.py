"""Offers, customers' standing with them and what purchases took. The CHECK constraints
come after the tables (CreateModel does not create them) and before the indexes (on
SQLite, adding a CHECK rebuilds the table, which would drop indexes made earlier)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from app.cashback.earning import OfferKind
from app.offers.models import OfferStatus
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Offer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(unique=False)),
                ('terms', fields.TextField(unique=False)),
                ('translations', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('kind', fields.CharEnumField(description='BOOSTED_CASHBACK: BOOSTED_CASHBACK\nBONUS_CREDITS: BONUS_CREDITS', enum_type=OfferKind, max_length=24)),
                ('percent', fields.DecimalField(null=True, max_digits=9, decimal_places=4)),
                ('currency', fields.CharField(max_length=3)),
                ('bonus_minor', fields.BigIntField(null=True)),
                ('minimum_spend_minor', fields.BigIntField(null=True)),
                ('merchant_id', fields.BigIntField(null=True)),
                ('category', fields.CharField(null=True, max_length=80)),
                ('category_key', fields.CharField(null=True, max_length=80)),
                ('channels', fields.CharField(null=True, max_length=32)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('requires_activation', fields.BooleanField(default=False)),
                ('per_customer_limit', fields.IntField(null=True)),
                ('budget_minor', fields.BigIntField(null=True)),
                ('budget_used_minor', fields.BigIntField(default=0)),
                ('uses_count', fields.BigIntField(default=0)),
                ('members_only', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=OfferStatus.ACTIVE, description='ACTIVE: ACTIVE\nPAUSED: PAUSED\nENDED: ENDED', enum_type=OfferStatus, max_length=16)),
                ('targeted', fields.BooleanField(default=False)),
                ('aud_tiers', fields.CharField(null=True, max_length=400)),
                ('aud_min_age', fields.SmallIntField(null=True)),
                ('aud_max_age', fields.SmallIntField(null=True)),
                ('aud_generations', fields.CharField(null=True, max_length=120)),
                ('aud_birthday_month', fields.BooleanField(default=False)),
                ('aud_favorite_category', fields.CharField(null=True, max_length=80)),
                ('aud_new_customers', fields.BooleanField(default=False)),
                ('aud_lapsed_days', fields.IntField(null=True)),
                ('aud_channels', fields.CharField(null=True, max_length=16)),
                ('aud_min_recency', fields.SmallIntField(null=True)),
                ('aud_min_frequency', fields.SmallIntField(null=True)),
                ('aud_min_monetary', fields.SmallIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'offers', 'app': 'offers', 'pk_attr': 'id', 'table_description': 'An offer: a boosted percent or a fixed bonus, for an audience, in a window.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfferCustomer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('offer_id', fields.BigIntField()),
                ('customer_id', fields.BigIntField()),
                ('activated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('uses', fields.IntField(default=0)),
            ],
            options={'table': 'offer_customers', 'app': 'offers', 'pk_attr': 'id', 'table_description': "One customer's standing with one offer: when they activated it, how often they"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfferUse',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('offer_id', fields.BigIntField()),
                ('customer_id', fields.BigIntField()),
                ('purchase_id', fields.BigIntField()),
                ('amount_minor', fields.BigIntField()),
                ('returned_minor', fields.BigIntField(default=0)),
                ('use_returned', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'offer_uses', 'app': 'offers', 'unique_together': (('purchase_id', 'offer_id'),), 'indexes': [Index(fields=['offer_id'])], 'pk_attr': 'id', 'table_description': 'What one purchase took from one offer, and what a refund gave back.'},
            bases=['Model'],
        ),
        ops.AddConstraint(
            'Offer',
            CheckConstraint(
                check='budget_used_minor >= 0 AND uses_count >= 0 AND (budget_minor IS NULL OR budget_used_minor <= budget_minor)',
                name='offers_budget_within',
            ),
        ),
        ops.AddConstraint(
            'OfferCustomer', CheckConstraint(check='uses >= 0', name='offer_customers_uses')
        ),
        ops.AddIndex('Offer', Index(fields=['status', 'ends_at'])),
        ops.AddIndex('Offer', Index(fields=['merchant_id'])),
        ops.AddIndex('OfferCustomer', Index(fields=['customer_id'])),
        ops.AddConstraint('OfferCustomer', UniqueConstraint(fields=('offer_id', 'customer_id'))),
    ]
