from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from app.catalog.values import Channel


class PurchaseStatus(StrEnum):
    COMPLETED = "COMPLETED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class Tier(Model):
    """A level of the program, reached by spending, that multiplies the cashback percent."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=60)
    multiplier = fields.DecimalField(max_digits=6, decimal_places=3)
    # Spend in the last 365 days (minor units of the program currency) that reaches it.
    minimum_spend_minor = fields.BigIntField()

    class Meta:
        table = "cashback_tiers"
        constraints = (
            CheckConstraint(
                check="multiplier > 0 AND minimum_spend_minor >= 0", name="cashback_tiers_values"
            ),
        )


class CashbackRule(Model):
    """A program rule: a percent for the purchases it matches, optionally capped.

    It matches by merchant, category, channels, window and minimum spend."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=120)
    percent = fields.DecimalField(max_digits=9, decimal_places=4)
    merchant_id = fields.BigIntField(null=True, db_index=True)
    category = fields.CharField(max_length=80, null=True)
    # Comma-separated channels; NULL means every channel.
    channels = fields.CharField(max_length=32, null=True)
    # Amounts in minor units of `currency`, the program's currency when the rule was made.
    currency = fields.CharField(max_length=3)
    minimum_spend_minor = fields.BigIntField(null=True)
    max_cashback_minor = fields.BigIntField(null=True)
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    terms = fields.TextField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "cashback_rules"
        constraints = (
            CheckConstraint(check="percent >= 0 AND percent <= 100", name="cashback_rules_percent"),
        )


class Purchase(Model):
    """A purchase reported by a store, with the cashback it earned and what was refunded."""

    id = fields.BigIntField(primary_key=True)
    store_id = fields.BigIntField()
    merchant_id = fields.BigIntField(db_index=True)
    customer_id = fields.BigIntField()
    external_id = fields.CharField(max_length=128)
    channel = fields.CharEnumField(Channel, max_length=16)
    currency = fields.CharField(max_length=3)
    total_minor = fields.BigIntField()
    credits_used_minor = fields.BigIntField(default=0)
    # Paid with credits of a redemption captured for this order at this store.
    redeemed_minor = fields.BigIntField(default=0)
    refunded_minor = fields.BigIntField(default=0)
    cashback_minor = fields.BigIntField(default=0)
    cashback_reversed_minor = fields.BigIntField(default=0)
    cashback_available_at = fields.DatetimeField(null=True)
    cashback_expires_at = fields.DatetimeField(null=True)
    # [{label, percent, base, amount}] with amounts in minor units; sums to cashback_minor.
    explanation: fields.JSONField[list[dict[str, object]] | None] = fields.JSONField(null=True)
    no_cashback_reason = fields.CharField(max_length=32, null=True)
    tier_code = fields.CharField(max_length=32, null=True)
    terms_version = fields.IntField(null=True)
    status = fields.CharEnumField(PurchaseStatus, max_length=24, default=PurchaseStatus.COMPLETED)
    occurred_at = fields.DatetimeField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "cashback_purchases"
        unique_together = (("store_id", "external_id"),)
        # (occurred_at): the program's metrics read a period's purchases.
        indexes = (
            Index(fields=("customer_id", "occurred_at")),
            Index(fields=("occurred_at",), name="cashback_purchases_occurred"),
        )
        constraints = (
            CheckConstraint(
                check=(
                    "total_minor >= 0 AND credits_used_minor >= 0 AND redeemed_minor >= 0"
                    " AND refunded_minor >= 0 AND refunded_minor <= total_minor"
                    " AND cashback_minor >= 0 AND cashback_reversed_minor >= 0"
                    " AND cashback_reversed_minor <= cashback_minor"
                ),
                name="cashback_purchases_amounts",
            ),
        )


class PurchaseItem(Model):
    """A line of a purchase, as the store reported it."""

    id = fields.BigIntField(primary_key=True)
    purchase: fields.ForeignKeyRelation[Purchase] = fields.ForeignKeyField(
        "cashback.Purchase", related_name="items", on_delete=fields.CASCADE, db_index=True
    )
    purchase_id: int
    sku = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200, null=True)
    category = fields.CharField(max_length=80, null=True)
    quantity = fields.IntField()
    unit_price_minor = fields.BigIntField()

    class Meta:
        table = "cashback_purchase_items"


class Refund(Model):
    """A return of all or part of a purchase, idempotent by (store, key)."""

    id = fields.BigIntField(primary_key=True)
    purchase: fields.ForeignKeyRelation[Purchase] = fields.ForeignKeyField(
        "cashback.Purchase", related_name="refunds", on_delete=fields.CASCADE
    )
    purchase_id: int
    store_id = fields.BigIntField()
    idempotency_key = fields.CharField(max_length=128)
    amount_minor = fields.BigIntField()
    reason = fields.CharField(max_length=500, null=True)
    cashback_taken_minor = fields.BigIntField(default=0)
    from_pending_minor = fields.BigIntField(default=0)
    from_available_minor = fields.BigIntField(default=0)
    clawback_minor = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "cashback_refunds"
        unique_together = (("store_id", "idempotency_key"),)
        constraints = (CheckConstraint(check="amount_minor > 0", name="cashback_refunds_amount"),)


class CustomerSpend(Model):
    """What a customer spent (net of refunds) on purchases of the tier window, kept current
    in the transactions that record purchases and refunds, so a tier read is one row.

    The sum is right until `changes_at`, when the oldest purchase it counts (of those with
    something not refunded) leaves the window by the passage of time; NULL: nothing counted
    can leave, the sum is 0. A read that finds `changes_at` passed (or no row) computes the
    sum from the purchases and writes it back."""

    # The customer's id (accounts owns customers: no foreign key across features).
    customer_id = fields.BigIntField(primary_key=True, generated=False)
    # Minor units of the program currency.
    window_spend_minor = fields.BigIntField()
    changes_at = fields.DatetimeField(null=True)
    # Grows with every write: a recomputation writes back only over the row it read.
    version = fields.BigIntField()

    class Meta:
        table = "cashback_customer_spend"
        constraints = (
            CheckConstraint(
                check="window_spend_minor >= 0 AND version >= 1",
                name="cashback_customer_spend_values",
            ),
        )
