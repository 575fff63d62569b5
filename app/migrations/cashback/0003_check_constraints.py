from tortoise import migrations
from tortoise.migrations.constraints import CheckConstraint

from app.core.migrations import CreateDeclaredCheck


class Migration(migrations.Migration):
    """The CHECK constraints the models declare, which the first migration recorded but
    never created."""

    dependencies = [('cashback', '0002_customer_spend')]

    initial = False

    operations = [
        CreateDeclaredCheck(
            'Tier',
            CheckConstraint(
                check='multiplier > 0 AND minimum_spend_minor >= 0',
                name='cashback_tiers_values',
            ),
        ),
        CreateDeclaredCheck(
            'CashbackRule',
            CheckConstraint(
                check='percent >= 0 AND percent <= 100',
                name='cashback_rules_percent',
            ),
        ),
        CreateDeclaredCheck(
            'Purchase',
            CheckConstraint(
                check='total_minor >= 0 AND credits_used_minor >= 0 AND redeemed_minor >= 0 AND refunded_minor >= 0 AND refunded_minor <= total_minor AND cashback_minor >= 0 AND cashback_reversed_minor >= 0 AND cashback_reversed_minor <= cashback_minor',
                name='cashback_purchases_amounts',
            ),
        ),
        CreateDeclaredCheck(
            'Refund',
            CheckConstraint(
                check='amount_minor > 0',
                name='cashback_refunds_amount',
            ),
        ),
    ]
