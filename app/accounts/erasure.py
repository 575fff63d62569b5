"""A customer's own data: what their export shows of their account, and erasing it when
they delete the account. The user row stays as a tombstone (`deleted_at` set, every
personal column blanked) so that the anonymised purchases and ledger still join on its id.
No GraphQL here (see app.privacy, which composes every feature's part)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from app.accounts.models import AccountDeletion, ConsentChange, RefreshToken, Role, Session, User
from app.accounts.passwords import verify_password
from app.accounts.service import (
    Client,
    InvalidCredentials,
    _forgive,
    _reserve,
    _sign_in_limits,
    get_active_user,
    invited_counts,
)
from app.core import clock
from app.core.errors import NotFound
from app.core.export import Record, day, pages_by_id, when
from app.core.ids import encode_id
from app.throttling import service as throttling

log = logging.getLogger(__name__)


# --- Deleting: the password, then the erasure ---------------------------------------------


async def confirm_password(*, user_id: int, password: str, client: Client = Client()) -> None:
    """The signed-in customer's password, checked as sign-in checks it: a wrong one is
    INVALID_CREDENTIALS at ["password"], and failures count against the same limits as
    sign-in's (per account and address, per address, per account), so a stolen access
    token gives a guesser no more tries than the sign-in form does."""
    user = await get_active_user(user_id)
    if user is None:
        raise NotFound("No such account.")
    limits = _sign_in_limits(user.email, client.address, None)
    recorded = await _reserve(limits, "Too many wrong passwords.")
    if not await verify_password(user.password_hash, password):
        raise InvalidCredentials("The password is not right.", field=["password"])
    await _forgive(recorded)


@dataclass(frozen=True, slots=True)
class Erased:
    """What erasing an account found: whether it did it now, and how many sessions ended."""

    erased: bool
    sessions_ended: int
    throttle_keys: tuple[str, ...] = ()


def tombstone_email(customer_id: int) -> str:
    """What a deleted account's email column holds: unique, and no address (it has no @),
    so no sign-in or partner look-up can ever match it."""
    return f"deleted-{customer_id}"


async def erase_customer(*, customer_id: int) -> Erased:
    """Inside the caller's transaction: lock the account, end and delete its sessions and
    refresh tokens, delete its consent history, blank every personal column (email, name,
    birth date, locale, member and referral codes, password hash, consents) and record the
    deletion for the operator. An account already deleted is left as it is."""
    now = clock.now()
    async with in_transaction():
        user = await User.select_for_update().filter(id=customer_id, role=Role.CUSTOMER).first()
        if user is None or user.deleted_at is not None:
            return Erased(erased=False, sessions_ended=0)
        sessions = await Session.filter(user_id=customer_id).values_list("id", "ip_address")
        await RefreshToken.filter(session_id__in=[pk for pk, _ in sessions]).delete()
        ended = await Session.filter(user_id=customer_id, ended_at=None).count()
        await Session.filter(user_id=customer_id).delete()
        await ConsentChange.filter(user_id=customer_id).delete()
        await User.filter(id=customer_id).update(
            email=tombstone_email(customer_id),
            password_hash="",
            display_name="",
            birth_date=None,
            locale=None,
            member_code=f"-{customer_id}",
            referral_code=None,
            referral_code_used=None,
            consent_personalization=False,
            consent_marketing=False,
            consents_updated_at=None,
            terms_version=None,
            updated_at=now,
            password_changed_at=now,
            deleted_at=now,
        )
        await AccountDeletion.create(customer_id=customer_id, deleted_at=now)
    # The person's sign-in and password-check counters (hashed keys, but keyed by them).
    keys = {f"sign-in:account:{user.email}", f"password-check:{customer_id}"}
    keys |= {
        f"sign-in:account-address:{user.email}:{address or 'unknown'}"
        for address in [*(address for _, address in sessions), None]
    }
    return Erased(erased=True, sessions_ended=ended, throttle_keys=tuple(sorted(keys)))


async def forget_counters(erased: Erased) -> None:
    """After the erasure has committed: the person's throttling counters go too (they live
    in Redis or the database, outside the erasure's transaction)."""
    for key in erased.throttle_keys:
        await throttling.reset(key=key)


async def deleted_customer_ids(customer_ids: list[int]) -> frozenset[int]:
    """Those of these ids that were customers who deleted their account (one query)."""
    if not customer_ids:
        return frozenset()
    found = await AccountDeletion.filter(customer_id__in=customer_ids).values_list("customer_id")
    return frozenset(int(pk) for (pk,) in found)


# --- Exporting ----------------------------------------------------------------------------


async def export_profile(*, customer_id: int) -> Record:
    """The account as its owner sees it, with both consents and the referral code."""
    user = await get_active_user(customer_id)
    if user is None:
        raise NotFound("No such account.")
    invited = (await invited_counts([customer_id])).get(customer_id, 0)
    return {
        "profile": {
            "id": encode_id("Customer", user.id),
            "email": user.email,
            "displayName": user.display_name,
            "birthDate": day(user.birth_date),
            "locale": user.locale,
            "memberCode": user.member_code,
            "termsVersion": user.terms_version,
            "createdAt": when(user.created_at),
            "updatedAt": when(user.updated_at),
            "passwordChangedAt": when(user.password_changed_at),
        },
        "consents": {
            "personalization": user.consent_personalization,
            "marketing": user.consent_marketing,
            "updatedAt": when(user.consents_updated_at),
        },
        "referral": {
            "code": user.referral_code,
            "codeUsedAtSignUp": user.referral_code_used,
            "invitedCount": invited,
        },
    }


async def export_consent_history(*, customer_id: int) -> AsyncIterator[Record]:
    """Every change of the customer's consents, oldest first."""
    async for page in pages_by_id(
        "SELECT id, personalization, marketing, source, changed_at FROM consent_changes"
        " WHERE user_id = ?",
        customer_id,
    ):
        for row in page:
            yield {
                "personalization": bool(row["personalization"]),
                "marketing": bool(row["marketing"]),
                "source": row["source"],
                "changedAt": when(row["changed_at"]),
            }


async def export_sessions(*, customer_id: int) -> AsyncIterator[Record]:
    """Every session (sign-in) of the customer: when, from where, how it ended; never a
    token, a hash or a secret."""
    async for page in pages_by_id(
        "SELECT id, created_at, last_used_at, expires_at, ended_at, end_reason, user_agent,"
        " ip_address FROM auth_sessions WHERE user_id = ?",
        customer_id,
    ):
        for row in page:
            yield {
                "id": encode_id("Device", int(row["id"])),
                "createdAt": when(row["created_at"]),
                "lastUsedAt": when(row["last_used_at"]),
                "expiresAt": when(row["expires_at"]),
                "endedAt": when(row["ended_at"]),
                "endReason": row["end_reason"],
                "userAgent": row["user_agent"],
                "ipAddress": row["ip_address"],
            }


async def get_active_customer(customer_id: int) -> User | None:
    return await User.get_or_none(id=customer_id, deleted_at=None, role=Role.CUSTOMER)


async def deleted_since(moment: datetime) -> list[int]:
    """The ids of the customers who deleted their account at `moment` or later."""
    rows = await AccountDeletion.filter(deleted_at__gte=moment).values_list("customer_id")
    return sorted(int(pk) for (pk,) in rows)


async def all_deleted_ids() -> frozenset[int]:
    """Every customer id whose account was deleted (for rebuilds, which must not bring
    back what deletion erased)."""
    rows = await AccountDeletion.all().values_list("customer_id")
    return frozenset(int(pk) for (pk,) in rows)
