from __future__ import annotations

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class CustomerProfile(Model):
    """A customer's purchase behaviour, kept current in the transactions that record their
    purchases and refunds, so a segment is one row to read."""

    # The customer's id (accounts owns customers: no foreign key across features).
    customer_id = fields.BigIntField(primary_key=True, generated=False)
    # Purchases not fully refunded, in all and per channel.
    purchase_count = fields.IntField(default=0)
    first_purchase_at = fields.DatetimeField(null=True)
    last_purchase_at = fields.DatetimeField(null=True)
    # Purchase totals less refunds, all time, in minor units of the program currency.
    spend_minor = fields.BigIntField(default=0)
    online_count = fields.IntField(default=0)
    in_store_count = fields.IntField(default=0)
    # The normalised category key with the most spend in the favourite window.
    favorite_category = fields.CharField(max_length=80, null=True)
    # Up to 3 merchant ids with the most spend in the favourite window, best first.
    favorite_merchant_ids = fields.CharField(max_length=200, null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "customer_profiles"
        constraints = (
            CheckConstraint(
                check=(
                    "purchase_count >= 0 AND spend_minor >= 0"
                    " AND online_count >= 0 AND in_store_count >= 0"
                ),
                name="customer_profiles_counts",
            ),
        )


class ProfileSpendDay(Model):
    """What a customer spent on one day at one merchant in one category (net of refunds):
    the buckets favourites are computed from."""

    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    day = fields.DateField()
    merchant_id = fields.BigIntField()
    # The normalised category key; '' when unknown.
    category = fields.CharField(max_length=80)
    spend_minor = fields.BigIntField()

    class Meta:
        table = "profile_spend_days"
        # Its index (customer_id first, then day) also serves "this customer, day >= X".
        unique_together = (("customer_id", "day", "merchant_id", "category"),)
        constraints = (CheckConstraint(check="spend_minor >= 0", name="profile_spend_days_spend"),)
