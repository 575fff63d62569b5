from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from app.catalog.values import Channel


class RedemptionStatus(StrEnum):
    RESERVED = "RESERVED"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class Redemption(Model):
    """Credits a customer set aside to pay part of an order at a merchant.

    The money itself lives in the ledger, under the reservation keyed by
    `reservation_key`; this row says what the reservation is for and how it ended.
    A row still RESERVED after `expires_at` has lapsed: it reads as EXPIRED."""

    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    merchant_id = fields.BigIntField()
    channel = fields.CharEnumField(Channel, max_length=16)
    status = fields.CharEnumField(RedemptionStatus, max_length=16, default="RESERVED")
    amount_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    # The order total the customer gave when starting, if any.
    order_total_minor = fields.BigIntField(null=True)
    idempotency_key = fields.CharField(max_length=128)
    # IN_STORE only. HMAC-SHA256 of the code under a server key, for lookup by equality.
    code_hash = fields.CharField(max_length=64, null=True, db_index=True)
    # IN_STORE only, while open: the code sealed (AES-GCM) under a server key, so its owner
    # can be shown it again; cleared when the redemption closes.
    code_sealed = fields.CharField(max_length=96, null=True)
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    captured_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    order_reference = fields.CharField(max_length=128, null=True)
    captured_order_total_minor = fields.BigIntField(null=True)
    store_id = fields.BigIntField(null=True)
    captured_channel = fields.CharEnumField(Channel, max_length=16, null=True)

    class Meta:
        table = "redemptions"
        unique_together = (("customer_id", "idempotency_key"),)
        # (captured_at): the program's metrics read a period's captured redemptions.
        indexes = (("customer_id", "id"), ("store_id", "order_reference"), ("captured_at",))
        constraints = (
            CheckConstraint(check="amount_minor > 0", name="redemptions_amount_positive"),
        )

    @property
    def reservation_key(self) -> str:
        return f"redemption:{self.id}"
