from tortoise import migrations
from tortoise.migrations.constraints import CheckConstraint

from app.core.migrations import CreateDeclaredCheck


class Migration(migrations.Migration):
    """The CHECK constraints the models declare, which the first migration recorded but
    never created."""

    dependencies = [('redemptions', '0001_redemptions_and_in_store_codes')]

    initial = False

    operations = [
        CreateDeclaredCheck(
            'Redemption',
            CheckConstraint(
                check='amount_minor > 0',
                name='redemptions_amount_positive',
            ),
        ),
    ]
