from tortoise import migrations
from tortoise.migrations import operations as ops
from app.catalog.models import Channel
from app.redemptions.models import RedemptionStatus
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer_id', fields.BigIntField()),
                ('merchant_id', fields.BigIntField()),
                ('channel', fields.CharEnumField(description='ONLINE: ONLINE\nIN_STORE: IN_STORE', enum_type=Channel, max_length=16)),
                ('status', fields.CharEnumField(default='RESERVED', description='RESERVED: RESERVED\nCAPTURED: CAPTURED\nRELEASED: RELEASED\nEXPIRED: EXPIRED', enum_type=RedemptionStatus, max_length=16)),
                ('amount_minor', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('order_total_minor', fields.BigIntField(null=True)),
                ('idempotency_key', fields.CharField(max_length=128)),
                ('code_hash', fields.CharField(null=True, db_index=True, max_length=64)),
                ('code_sealed', fields.CharField(null=True, max_length=96)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('captured_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('order_reference', fields.CharField(null=True, max_length=128)),
                ('captured_order_total_minor', fields.BigIntField(null=True)),
                ('store_id', fields.BigIntField(null=True)),
                ('captured_channel', fields.CharEnumField(null=True, description='ONLINE: ONLINE\nIN_STORE: IN_STORE', enum_type=Channel, max_length=16)),
            ],
            options={'table': 'redemptions', 'app': 'redemptions', 'unique_together': (('customer_id', 'idempotency_key'),), 'constraints': [CheckConstraint(check='amount_minor > 0', name='redemptions_amount_positive')], 'indexes': [Index(fields=['customer_id', 'id']), Index(fields=['store_id', 'order_reference'])], 'pk_attr': 'id', 'table_description': 'Credits a customer set aside to pay part of an order at a merchant.'},
            bases=['Model'],
        ),
        # An in-store code is unique among open redemptions (the same on SQLite and
        # PostgreSQL: both have partial indexes).
        ops.RunSQL(
            "CREATE UNIQUE INDEX redemptions_open_code ON redemptions (code_hash) "
            "WHERE status = 'RESERVED' AND code_hash IS NOT NULL",
            reverse_sql="DROP INDEX redemptions_open_code",
        ),
    ]
