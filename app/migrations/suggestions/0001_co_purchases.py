"""Co-purchase statistics: basket lines, product support and product pairs. The CHECK
constraints come after the tables (CreateModel does not create them) and before the indexes
(on SQLite, adding a CHECK rebuilds the table, which would drop indexes made earlier)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='BasketLine',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('purchase_id', fields.BigIntField()),
                ('customer_id', fields.BigIntField()),
                ('product_id', fields.BigIntField()),
                ('day', fields.IntField()),
            ],
            options={'table': 'suggestion_basket_lines', 'app': 'suggestions', 'unique_together': (('purchase_id', 'product_id'),), 'indexes': [Index(fields=['customer_id', 'day'])], 'pk_attr': 'id', 'table_description': 'A catalogue product in a counted purchase (recorded, not fully refunded).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProductPair',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('product_id', fields.BigIntField()),
                ('related_id', fields.BigIntField()),
                ('together', fields.IntField(default=0)),
                ('follow_ups', fields.IntField(default=0)),
            ],
            options={'table': 'suggestion_pairs', 'app': 'suggestions', 'pk_attr': 'id', 'table_description': 'Two products bought together, stored both ways.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProductStats',
            fields=[
                ('product_id', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('category', fields.CharField(max_length=80)),
                ('purchases', fields.IntField(default=0)),
            ],
            options={'table': 'suggestion_products', 'app': 'suggestions', 'pk_attr': 'product_id', 'table_description': 'How many counted purchases hold a product.'},
            bases=['Model'],
        ),
        ops.AddConstraint(
            'ProductPair',
            CheckConstraint(
                check='together >= 0 AND follow_ups >= 0 AND product_id <> related_id',
                name='suggestion_pairs_counts',
            ),
        ),
        ops.AddConstraint(
            'ProductStats', CheckConstraint(check='purchases >= 0', name='suggestion_products_count')
        ),
        ops.AddIndex('ProductStats', Index(fields=['category', 'purchases'])),
        ops.AddIndex('ProductStats', Index(fields=['purchases'])),
        ops.AddConstraint('ProductPair', UniqueConstraint(fields=('product_id', 'related_id'))),
    ]
