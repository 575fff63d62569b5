from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('catalog', '0001_merchants_stores_products')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Product',
            name='active',
            field=fields.BooleanField(default=True, db_default=True),
        ),
    ]
