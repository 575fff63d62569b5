from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    CUSTOMER = "CUSTOMER"
    ADMIN = "ADMIN"


class User(Model):
    """A person who signs in: a customer of the program or one of its operators."""

    id = fields.BigIntField(primary_key=True)
    # Stored normalised (trimmed, lower case), so uniqueness is case-insensitive.
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16, default=Role.CUSTOMER)
    display_name = fields.CharField(max_length=100)
    birth_date = fields.DateField(null=True)
    locale = fields.CharField(max_length=35, null=True)
    # Printed as a QR code and typed by cashiers: short, unambiguous, unique.
    member_code = fields.CharField(max_length=16, unique=True)
    terms_version = fields.IntField(null=True)
    referral_code_used = fields.CharField(max_length=32, null=True)
    consent_personalization = fields.BooleanField(default=False)
    consent_marketing = fields.BooleanField(default=False)
    consents_updated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"

    def __str__(self) -> str:
        return f"User {self.id}"
