from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ProgramSettings(Model):
    """The one row of program settings (id 1)."""

    id = fields.IntField(primary_key=True)
    currency_code = fields.CharField(max_length=3, default="USD")
    pending_days = fields.IntField(default=30)
    credit_validity_days = fields.IntField(default=365)
    max_redemption_share = fields.DecimalField(max_digits=5, decimal_places=4, default="0.5")
    minimum_redemption_minor = fields.BigIntField(default=100)
    # The largest purchase total and redemption accepted, in minor units; None is the
    # default (100,000 and 10,000 of the program's currency, whatever it is).
    max_purchase_total_minor = fields.BigIntField(null=True)
    max_redemption_amount_minor = fields.BigIntField(null=True)
    terms_version = fields.IntField(default=1)
    # At most this many marketing messages reach a customer in any 7 days.
    marketing_messages_per_week = fields.IntField(default=3)
    updated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "program_settings"


class TermsVersion(Model):
    """Every text the terms have had. Credits record the version they were earned under."""

    id = fields.IntField(primary_key=True)
    version = fields.IntField(unique=True)
    text = fields.TextField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "program_terms_versions"
