from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TrustedDocument(Model):
    """A GraphQL document an admin registered, known by the SHA-256 of its text."""

    sha256 = fields.CharField(primary_key=True, max_length=64)
    name = fields.CharField(max_length=200)
    document = fields.TextField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "trusted_documents"
        table_description = "GraphQL documents an admin registered as trusted, by SHA-256."
