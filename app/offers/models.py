from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from app.cashback.earning import OfferKind


class OfferStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ENDED = "ENDED"


class Offer(Model):
    """An offer: a boosted percent or a fixed bonus, for an audience, in a window.

    The audience is kept as one column per condition (NULL or FALSE: no condition), so
    listing a customer's offers is one indexed query whatever the number of offers."""

    id = fields.BigIntField(primary_key=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField()
    terms = fields.TextField()
    # {"fr": {"title": ..., "description": ..., "terms": ...}, ...}
    translations: fields.JSONField[dict[str, dict[str, str]] | None] = fields.JSONField(null=True)
    kind = fields.CharEnumField(OfferKind, max_length=24)
    percent = fields.DecimalField(max_digits=9, decimal_places=4, null=True)
    # Amounts in minor units of `currency`, the program's currency when it was made.
    currency = fields.CharField(max_length=3)
    bonus_minor = fields.BigIntField(null=True)
    minimum_spend_minor = fields.BigIntField(null=True)
    merchant_id = fields.BigIntField(null=True)
    category = fields.CharField(max_length=80, null=True)  # as the admin wrote it
    category_key = fields.CharField(max_length=80, null=True)  # normalised
    channels = fields.CharField(max_length=32, null=True)  # comma-separated; NULL: all
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    requires_activation = fields.BooleanField(default=False)
    per_customer_limit = fields.IntField(null=True)
    budget_minor = fields.BigIntField(null=True)
    budget_used_minor = fields.BigIntField(default=0)
    uses_count = fields.BigIntField(default=0)
    # Not in the public feed: for signed-in customers only (an audience implies it too).
    members_only = fields.BooleanField(default=False)
    status = fields.CharEnumField(OfferStatus, max_length=16, default=OfferStatus.ACTIVE)
    # The audience. `targeted` says whether any condition below is set.
    targeted = fields.BooleanField(default=False)
    aud_tiers = fields.CharField(max_length=400, null=True)  # ",GOLD,SILVER,"
    aud_min_age = fields.SmallIntField(null=True)
    aud_max_age = fields.SmallIntField(null=True)
    aud_generations = fields.CharField(max_length=120, null=True)  # ",GEN_Z,MILLENNIAL,"
    aud_birthday_month = fields.BooleanField(default=False)
    aud_favorite_category = fields.CharField(max_length=80, null=True)  # normalised
    aud_new_customers = fields.BooleanField(default=False)
    aud_lapsed_days = fields.IntField(null=True)
    aud_channels = fields.CharField(max_length=16, null=True)  # ONLINE, IN_STORE, BOTH
    aud_min_recency = fields.SmallIntField(null=True)
    aud_min_frequency = fields.SmallIntField(null=True)
    aud_min_monetary = fields.SmallIntField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "offers"
        # (status, uses_count): a customer's offers in the program's order (the most used
        # first) read from the index, stopping at the page's end, not sorted from all.
        indexes = (
            Index(fields=("status", "ends_at")),
            Index(fields=("merchant_id",)),
            Index(fields=("status", "uses_count")),
        )
        constraints = (
            CheckConstraint(
                check="budget_used_minor >= 0 AND uses_count >= 0 "
                "AND (budget_minor IS NULL OR budget_used_minor <= budget_minor)",
                name="offers_budget_within",
            ),
        )


class OfferCustomer(Model):
    """One customer's standing with one offer: when they activated it, how often they
    used it (the per-customer limit is checked on this row)."""

    id = fields.BigIntField(primary_key=True)
    offer_id = fields.BigIntField()
    customer_id = fields.BigIntField()
    activated_at = fields.DatetimeField(null=True)
    uses = fields.IntField(default=0)

    class Meta:
        table = "offer_customers"
        unique_together = (("offer_id", "customer_id"),)
        indexes = (Index(fields=("customer_id",)),)
        constraints = (CheckConstraint(check="uses >= 0", name="offer_customers_uses"),)


class OfferUse(Model):
    """What one purchase took from one offer, and what a refund gave back."""

    id = fields.BigIntField(primary_key=True)
    offer_id = fields.BigIntField()
    customer_id = fields.BigIntField()
    purchase_id = fields.BigIntField()
    amount_minor = fields.BigIntField()
    returned_minor = fields.BigIntField(default=0)
    use_returned = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()

    class Meta:
        table = "offer_uses"
        unique_together = (("purchase_id", "offer_id"),)
        indexes = (Index(fields=("offer_id",)),)
