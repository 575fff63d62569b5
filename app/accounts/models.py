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
    # Stored canonical (NFKC, trimmed, lower case, ASCII with an IDNA domain: see
    # service.canonical_email), so look-alike spellings cannot make a second account.
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
    # The code this customer shares to invite others (every user has one; null only
    # before the migration that gave existing users theirs).
    referral_code = fields.CharField(max_length=16, unique=True, null=True)
    # Who invited this customer (their referral code was given at sign-up).
    referred_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "accounts.User", related_name="referrals", null=True, on_delete=fields.SET_NULL
    )
    password_changed_at = fields.DatetimeField(null=True)

    referred_by_id: int | None

    class Meta:
        table = "users"

    def __str__(self) -> str:
        return f"User {self.id}"


class ConsentChange(Model):
    """Every change of a customer's consents, with when and how it was given."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "accounts.User", related_name="consent_changes", on_delete=fields.CASCADE
    )
    personalization = fields.BooleanField()
    marketing = fields.BooleanField()
    source = fields.CharField(max_length=16)  # SIGN_UP or UPDATE
    changed_at = fields.DatetimeField()

    class Meta:
        table = "consent_changes"


class SessionEnd(StrEnum):
    SIGNED_OUT = "SIGNED_OUT"
    SIGNED_OUT_EVERYWHERE = "SIGNED_OUT_EVERYWHERE"
    SIGNED_OUT_REMOTELY = "SIGNED_OUT_REMOTELY"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    ACCOUNT_DELETED = "ACCOUNT_DELETED"


class Session(Model):
    """One sign-in on one device: a family of refresh tokens, each replacing the last.
    Access tokens name it (`sid`), so ending it ends them too."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "accounts.User", related_name="sessions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField()
    # When the newest refresh token expires: the session lapses then unless refreshed.
    expires_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharEnumField(SessionEnd, max_length=32, null=True)
    user_agent = fields.CharField(max_length=255, null=True)
    ip_address = fields.CharField(max_length=45, null=True)

    user_id: int

    class Meta:
        table = "auth_sessions"
        indexes = (("user_id", "ended_at"),)


class RefreshToken(Model):
    """A refresh token, stored as the SHA-256 of its random value. `used_at` is set when
    it is exchanged (rotated); presenting it again afterwards ends its session."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[Session] = fields.ForeignKeyField(
        "accounts.Session", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    session_id: int

    class Meta:
        table = "auth_refresh_tokens"


class PartnerClient(Model):
    """A partner system's OAuth client (client-credentials grant)."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=100)
    # Public identifier sent with the secret to /oauth/token.
    client_id = fields.CharField(max_length=40, unique=True)
    # SHA-256 of the secret: it has 256 random bits, so a fast hash is enough.
    secret_hash = fields.CharField(max_length=64)
    scopes = fields.CharField(max_length=255)  # space-separated, sorted
    # The merchant whose stores the client may act on; null: any merchant.
    merchant_id = fields.BigIntField(null=True, db_index=True)
    created_at = fields.DatetimeField()
    secret_rotated_at = fields.DatetimeField()
    disabled_at = fields.DatetimeField(null=True)
    last_token_at = fields.DatetimeField(null=True)

    class Meta:
        table = "partner_clients"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class AccountDeletion(Model):
    """A customer who deleted their account, for the operator: the id their anonymised
    purchases and ledger still carry, and when. Nothing personal."""

    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField(unique=True)
    deleted_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "account_deletions"
