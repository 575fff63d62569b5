from tortoise import migrations
from tortoise.migrations import operations as ops
from app.catalog.models import Channel
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Merchant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('logo_url', fields.CharField(null=True, max_length=500)),
                ('cashback_percent', fields.DecimalField(max_digits=9, decimal_places=4)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'catalog_merchants', 'app': 'catalog', 'constraints': [CheckConstraint(check='cashback_percent >= 0 AND cashback_percent <= 100', name='catalog_merchants_percent_range')], 'pk_attr': 'id', 'table_description': 'A brand in the program, with the cashback percent every purchase there earns.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('catalog.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='products', on_delete=OnDelete.RESTRICT)),
                ('sku', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=200)),
                ('category', fields.CharField(db_index=True, max_length=80)),
                ('price_minor', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('image_url', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'catalog_products', 'app': 'catalog', 'unique_together': (('merchant', 'sku'),), 'constraints': [CheckConstraint(check='price_minor >= 0', name='catalog_products_price')], 'pk_attr': 'id', 'table_description': "A merchant's product, known by its sku."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Store',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('catalog.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='stores', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=120)),
                ('channel', fields.CharEnumField(description='ONLINE: ONLINE\nIN_STORE: IN_STORE', enum_type=Channel, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'catalog_stores', 'app': 'catalog', 'pk_attr': 'id', 'table_description': "Where a merchant sells: a shop's website or app (ONLINE) or a physical store."},
            bases=['Model'],
        ),
    ]
