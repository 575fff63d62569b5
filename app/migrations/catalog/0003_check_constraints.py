from tortoise import migrations
from tortoise.migrations.constraints import CheckConstraint

from app.core.migrations import CreateDeclaredCheck


class Migration(migrations.Migration):
    """The CHECK constraints the models declare, which the first migration recorded but
    never created."""

    dependencies = [('catalog', '0002_product_active')]

    initial = False

    operations = [
        CreateDeclaredCheck(
            'Merchant',
            CheckConstraint(
                check='cashback_percent >= 0 AND cashback_percent <= 100',
                name='catalog_merchants_percent_range',
            ),
        ),
        CreateDeclaredCheck(
            'Product',
            CheckConstraint(
                check='price_minor >= 0',
                name='catalog_products_price',
            ),
        ),
    ]
