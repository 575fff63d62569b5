from tortoise import migrations
from tortoise.migrations.constraints import CheckConstraint

from app.core.migrations import CreateDeclaredCheck


class Migration(migrations.Migration):
    """The CHECK constraints the models declare, which the first migration recorded but
    never created."""

    dependencies = [('segments', '0001_profiles')]

    initial = False

    operations = [
        CreateDeclaredCheck(
            'CustomerProfile',
            CheckConstraint(
                check='purchase_count >= 0 AND spend_minor >= 0 AND online_count >= 0 AND in_store_count >= 0',
                name='customer_profiles_counts',
            ),
        ),
        CreateDeclaredCheck(
            'ProfileSpendDay',
            CheckConstraint(
                check='spend_minor >= 0',
                name='profile_spend_days_spend',
            ),
        ),
    ]
