from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ExportClaim(Model):
    """An export being built for a customer: one at a time, across every process. The row
    goes when the export ends; a claim older than `STALE_AFTER` (its process died) may be
    taken over."""

    customer_id = fields.BigIntField(primary_key=True, generated=False)
    started_at = fields.DatetimeField()

    class Meta:
        table = "privacy_export_claims"
