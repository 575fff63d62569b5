"""Accounts use cases: customers and admins, their profiles and consents, sign-up and
sign-in, sessions (refresh-token families) and sign-out. No GraphQL here: keyword-only
arguments, domain errors."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Final

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from app.accounts.devices import Device, issue_device_token, read_device_token
from app.accounts.models import ConsentChange, RefreshToken, Role, Session, SessionEnd, User
from app.accounts.password_policy import password_problem
from app.accounts.passwords import hash_password, needs_rehash, verify_password
from app.accounts.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from app.core import clock
from app.core.columns import fits_column
from app.core.errors import (
    DomainError,
    ErrorCode,
    InputErrors,
    InvalidInput,
    NotFound,
    RateLimited,
)
from app.core.pagination import Page, keyset_page
from app.core.reads import read_each_once
from app.settings import Settings
from app.throttling import service as throttling

# No 0/O, 1/I/L: a cashier types these from a phone screen.
MEMBER_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MEMBER_CODE_LENGTH = 8
REFERRAL_CODE_LENGTH = 8

# Sign-in failures. From a device that has not signed in to the account before: 10 in
# 15 minutes per account and address; 20 in 15 minutes per address whatever the accounts
# (spraying); and per account, from anywhere, 10 in a day before each further attempt must
# wait after the previous one, 1 second and doubling up to 15 minutes. Never a wall that
# an attacker could keep up: the waits are short, and a known device skips them all.
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_LIMIT = 10
SIGN_IN_ADDRESS_LIMIT = 20
SIGN_IN_ACCOUNT_WINDOW = timedelta(days=1)
SIGN_IN_ACCOUNT_LIMIT = 1000  # never reached: the waits allow about a hundred a day
SIGN_IN_ACCOUNT_BACKOFF = throttling.Backoff(
    free=10, first=1.0, longest=timedelta(minutes=15).total_seconds()
)
# From a known device (see app.accounts.devices), only its own failures count.
SIGN_IN_DEVICE_WINDOW = timedelta(minutes=15)
SIGN_IN_DEVICE_LIMIT = 10
# Wrong current passwords when changing it.
PASSWORD_CHECK_WINDOW = timedelta(minutes=15)
PASSWORD_CHECK_LIMIT = 10

MAX_DISPLAY_NAME = 100
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f.][^@\s\x00-\x1f]*\.[^@\s\x00-\x1f.]+$")
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|\d{3}))?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Keep:
    """The value of an optional argument that was not given: leave the field as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


# --- Errors ------------------------------------------------------------------------------


class EmailTaken(DomainError):
    code = ErrorCode.EMAIL_TAKEN
    default_message = "An account with this email already exists."


class InvalidEmail(InvalidInput):
    code = ErrorCode.INVALID_EMAIL
    default_message = "This is not a valid email address."


class WeakPassword(InvalidInput):
    code = ErrorCode.WEAK_PASSWORD
    default_message = "Choose a stronger password."


class TermsNotAccepted(DomainError):
    code = ErrorCode.TERMS_NOT_ACCEPTED
    default_message = "Accept the program's terms to sign up."


class UnknownReferralCode(DomainError):
    code = ErrorCode.UNKNOWN_REFERRAL_CODE
    default_message = "No member has this referral code."


class InvalidCredentials(DomainError):
    code = ErrorCode.INVALID_CREDENTIALS
    default_message = "The email or the password is not right."


class InvalidRefreshToken(DomainError):
    code = ErrorCode.INVALID_REFRESH_TOKEN
    default_message = "This refresh token is not valid; sign in again."


class RefreshTokenReused(DomainError):
    code = ErrorCode.REFRESH_TOKEN_REUSED
    default_message = (
        "This refresh token was already used, so the session has been ended; sign in again."
    )


class InvalidPassword(DomainError):
    code = ErrorCode.INVALID_PASSWORD
    default_message = "The current password is not right."


# --- Values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from (recorded on the sessions it starts)."""

    address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """What a client keeps after signing in: the tokens and when they expire."""

    session_id: int
    user_id: int
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    # Proof of this sign-in for later ones from the same device (sign-in, sign-up and
    # password changes give one; see app.accounts.devices).
    device_token: str | None = None


# --- Lookups -----------------------------------------------------------------------------


def _fold(email: str) -> str:
    # NFKC first: fullwidth letters, ligatures and other compatibility forms become the
    # plain letters they stand for (a fullwidth `alice@...` is `alice@...`).
    return unicodedata.normalize("NFKC", email).strip().lower()


# Scripts that are written together (Japanese, Chinese, Korean): with Latin, the one mix
# a domain label may have (Unicode TS #39, "highly restrictive").
_HAN = {"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"}


def _label_scripts(label: str) -> set[str] | None:
    """The scripts of the letters of a domain label; None when it has anything but
    letters, combining marks, digits and hyphens."""
    scripts: set[str] = set()
    for char in label:
        if char.isascii():
            if char.isalpha():
                scripts.add("LATIN")
            elif not (char.isdigit() or char == "-"):
                return None
            continue
        category = unicodedata.category(char)
        if category.startswith("M"):
            continue  # a combining mark belongs to the letter before it
        if not category.startswith("L"):
            return None
        script = unicodedata.name(char, "?").split(" ")[0]
        scripts.add("HAN" if script in _HAN else script)
    return scripts


def _ascii_domain(domain: str) -> str:
    """The domain in ASCII (IDNA for internationalised labels); InvalidEmail when a label
    mixes scripts, as look-alikes do (`example` with a Cyrillic `a`)."""
    labels = []
    for label in domain.split("."):
        if not label.isascii():
            scripts = _label_scripts(label)
            if scripts is None:
                raise InvalidEmail()
            if len(scripts) > 1 and not scripts <= {"LATIN", "HAN"}:
                raise InvalidEmail("This address mixes letters of different alphabets.")
            try:
                label = label.encode("idna").decode("ascii")
            except UnicodeError:
                raise InvalidEmail() from None
        labels.append(label)
    return ".".join(labels)


def canonical_email(email: str) -> str:
    """The one spelling under which an address is stored and found: NFKC, trimmed, lower
    case, an ASCII local part and an ASCII (IDNA) domain. So no two accounts have addresses
    that look alike: look-alike letters from other scripts are refused (InvalidEmail)."""
    folded = _fold(email)
    local, at, domain = folded.rpartition("@")
    if not at:
        raise InvalidEmail()
    if not local.isascii():
        raise InvalidEmail(
            "Use an address whose part before the @ has only unaccented Latin letters, "
            "digits and punctuation."
        )
    canonical = f"{local}@{_ascii_domain(domain)}"
    if len(canonical) > 254 or not _EMAIL.match(canonical):
        raise InvalidEmail()
    return canonical


def normalize_email(email: str) -> str:
    """The form to look an address up by (and to key its throttling on): its canonical
    spelling, or, for an address that cannot be one, a form no stored address has (so it
    finds nobody)."""
    try:
        return canonical_email(email)
    except InvalidEmail:
        return _fold(email)


def _random_code(length: int) -> str:
    return "".join(secrets.choice(MEMBER_CODE_ALPHABET) for _ in range(length))


def new_member_code() -> str:
    return _random_code(MEMBER_CODE_LENGTH)


def new_referral_code() -> str:
    return _random_code(REFERRAL_CODE_LENGTH)


async def has_users() -> bool:
    """Whether any account exists (deleted ones included)."""
    return await User.exists()


async def get_active_user(user_id: int) -> User | None:
    return await User.get_or_none(id=user_id, deleted_at=None)


def _active_customers() -> QuerySet[User]:
    return User.filter(deleted_at=None, role=Role.CUSTOMER)


def _lookup_form(column: str, value: str) -> str | None:
    """How a member code (upper case) or an email (`normalize_email`) is stored; None
    when it is longer than any stored one, so names nobody."""
    form = value.strip().upper() if column == "member_code" else normalize_email(value)
    return form if fits_column(User, column, form) else None


async def find_customer(
    *, member_code: str | None = None, email: str | None = None, customer_id: int | None = None
) -> User | None:
    """The active customer named by exactly one of member code, email or id."""
    query = _active_customers()
    if member_code is not None:
        code = _lookup_form("member_code", member_code)
        return None if code is None else await query.get_or_none(member_code=code)
    if email is not None:
        address = _lookup_form("email", email)
        return None if address is None else await query.get_or_none(email=address)
    if customer_id is not None:
        return await query.get_or_none(id=customer_id)
    return None


@dataclass(frozen=True, slots=True)
class FoundCustomers:
    """The ids of the active customers `find_customers` found, by the reference as it was
    given; a reference that names nobody is not in it."""

    by_member_code: dict[str, int]
    by_email: dict[str, int]
    ids: frozenset[int]


async def find_customers(
    *, member_codes: Iterable[str] = (), emails: Iterable[str] = (), ids: Iterable[int] = ()
) -> FoundCustomers:
    """The batch form of `find_customer`, with its rules (member codes in any case, emails
    in any spelling `normalize_email` folds, only active customers): one query for each
    kind of reference given, however many references."""
    given: dict[str, dict[Any, Any]] = {
        "member_code": {code: _lookup_form("member_code", code) for code in member_codes},
        "email": {address: _lookup_form("email", address) for address in emails},
        "id": {pk: pk for pk in ids},
    }
    found: dict[str, dict[Any, int]] = {column: {} for column in given}
    for column, forms in given.items():
        wanted = {form for form in forms.values() if form is not None}
        if not wanted:
            continue
        query = _active_customers().filter(**{f"{column}__in": sorted(wanted)})
        for user_id, matched in await query.values_list("id", column):
            found[column][matched] = user_id
    by_kind = {
        column: {
            value: found[column][form] for value, form in forms.items() if form in found[column]
        }
        for column, forms in given.items()
    }
    return FoundCustomers(
        by_member_code=by_kind["member_code"],
        by_email=by_kind["email"],
        ids=frozenset(by_kind["id"]),
    )


async def birth_dates(user_ids: Iterable[int]) -> dict[int, date | None]:
    """Each customer's birth date (None when not given), in one query (for a query's
    signed-in customer, none: it came with their account)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    found = await read_each_once(BIRTH_DATE, wanted, _read_birth_dates)
    return {pk: found[pk] for pk in wanted}


# What `read_each_once` knows birth dates by.
BIRTH_DATE = "accounts.birth_date"


async def _read_birth_dates(ids: list[int]) -> dict[int, date | None]:
    rows = await User.filter(id__in=ids).values_list("id", "birth_date")
    return {int(pk): born for pk, born in rows}


async def invited_counts(user_ids: list[int]) -> dict[int, int]:
    """How many customers signed up with each user's referral code."""
    rows = await (
        User.filter(referred_by_id__in=user_ids)
        .annotate(invited=Count("id"))
        .group_by("referred_by_id")
        .values_list("referred_by_id", "invited")
    )
    return {int(referrer): int(invited) for referrer, invited in rows}


# --- Validation --------------------------------------------------------------------------


def clean_email(email: str, *, field: list[str]) -> str:
    """The canonical spelling of a new address (see `canonical_email`)."""
    try:
        return canonical_email(email)
    except InvalidEmail as error:
        raise InvalidEmail(error.message, field=field) from None


def clean_display_name(name: str, *, field: list[str]) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("The name must not be empty.", field=field)
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"At most {MAX_DISPLAY_NAME} characters.", field=field)
    if _CONTROL.search(cleaned):
        raise InvalidInput("The name has characters that cannot be shown.", field=field)
    return cleaned


def clean_birth_date(birth_date: date | None, *, field: list[str]) -> date | None:
    if birth_date is None:
        return None
    today = clock.now().date()
    if birth_date > today:
        raise InvalidInput("The birth date is in the future.", field=field)
    if birth_date.year < today.year - 130:
        raise InvalidInput("The birth date is not plausible.", field=field)
    return birth_date


def clean_locale(locale: str | None, *, field: list[str]) -> str | None:
    """A BCP 47 language tag in its usual case (`pt-BR`, `zh-Hant-TW`); empty clears it."""
    if locale is None or not locale.strip():
        return None
    match = _LOCALE.match(locale.strip().replace("_", "-"))
    if match is None:
        raise InvalidInput("Use a language tag such as en-US or pt-BR.", field=field)
    language, script, region = match.groups()
    tag = language.lower()
    if script:
        tag += "-" + script[1:].title()
    if region:
        tag += "-" + region[1:].upper()
    return tag


def check_password(
    password: str, *, field: list[str], email: str | None = None, display_name: str | None = None
) -> None:
    problem = password_problem(password, email=email, display_name=display_name)
    if problem:
        raise WeakPassword(problem, field=field)


# --- Creating users ----------------------------------------------------------------------


async def create_user(
    *,
    email: str,
    password: str,
    display_name: str,
    role: Role = Role.CUSTOMER,
    **profile: Any,
) -> User:
    """A new user with fresh member and referral codes (drawn again on the rare collision).
    EmailTaken when the email is in use. Checks nothing else: callers validate."""
    password_hash = await hash_password(password)
    normalized = normalize_email(email)
    now = clock.now()
    for _ in range(5):
        try:
            async with in_transaction():
                return await User.create(
                    email=normalized,
                    password_hash=password_hash,
                    display_name=display_name,
                    role=role,
                    member_code=new_member_code(),
                    referral_code=new_referral_code(),
                    created_at=now,
                    updated_at=now,
                    **profile,
                )
        except IntegrityError:
            if await User.exists(email=normalized):
                raise EmailTaken(field=["input", "email"]) from None
    raise InvalidInput("Could not allocate a member code.")


async def create_admin(*, email: str, password: str) -> tuple[User, bool]:
    """The admin with this email, made if missing; an existing user becomes admin.
    Returns the user and whether it was created."""
    normalized = clean_email(email, field=["email"])
    check_password(password, field=["password"], email=normalized)
    existing = await User.get_or_none(email=normalized)
    if existing is not None:
        existing.role = Role.ADMIN
        existing.password_hash = await hash_password(password)
        existing.updated_at = existing.password_changed_at = clock.now()
        await existing.save(
            update_fields=["role", "password_hash", "updated_at", "password_changed_at"]
        )
        await end_all_sessions(user_id=existing.id, reason=SessionEnd.PASSWORD_CHANGED)
        return existing, False
    user = await create_user(
        email=normalized, password=password, display_name="Administrator", role=Role.ADMIN
    )
    return user, True


async def sign_up(
    *,
    settings: Settings,
    email: str,
    password: str,
    display_name: str,
    accept_terms: bool,
    birth_date: date | None = None,
    locale: str | None = None,
    referral_code: str | None = None,
    consent_personalization: bool = False,
    consent_marketing: bool = False,
    client: Client = Client(),
) -> IssuedSession:
    """A new customer, signed in at once. Every input problem is reported together."""
    from app.program.service import get_program

    problems = InputErrors()
    fields: dict[str, Any] = {}
    with problems.catch():
        fields["email"] = clean_email(email, field=["input", "email"])
    with problems.catch():
        fields["display_name"] = clean_display_name(display_name, field=["input", "displayName"])
    with problems.catch():
        fields["birth_date"] = clean_birth_date(birth_date, field=["input", "birthDate"])
    with problems.catch():
        fields["locale"] = clean_locale(locale, field=["input", "locale"])
    with problems.catch():
        check_password(
            password,
            field=["input", "password"],
            email=fields.get("email", email),
            display_name=fields.get("display_name", display_name),
        )
    if not accept_terms:
        problems.add(TermsNotAccepted(field=["input", "acceptTerms"]))
    referrer: User | None = None
    code = (referral_code or "").strip().upper()
    if code:
        referrer = (
            await User.get_or_none(referral_code=code, deleted_at=None, role=Role.CUSTOMER)
            if fits_column(User, "referral_code", code)
            else None
        )
        if referrer is None:
            problems.add(UnknownReferralCode(field=["input", "referralCode"]))
    if "email" in fields and await User.exists(email=fields["email"]):
        problems.add(EmailTaken(field=["input", "email"]))
    problems.raise_any()

    program = await get_program()
    now = clock.now()
    user = await create_user(
        email=fields["email"],
        password=password,
        display_name=fields["display_name"],
        birth_date=fields["birth_date"],
        locale=fields["locale"],
        terms_version=program.terms_version,
        referral_code_used=code or None,
        referred_by_id=referrer.id if referrer else None,
        consent_personalization=consent_personalization,
        consent_marketing=consent_marketing,
        consents_updated_at=now,
        password_changed_at=now,
    )
    await ConsentChange.create(
        user_id=user.id,
        personalization=consent_personalization,
        marketing=consent_marketing,
        source="SIGN_UP",
        changed_at=now,
    )
    issued = await start_session(settings=settings, user=user, client=client)
    return replace(issued, device_token=issue_device_token(settings, user_id=user.id))


# --- Signing in and sessions -------------------------------------------------------------


# A throttling key, its window and limit, and its backoff if it has one.
_Limit = tuple[str, timedelta, int, throttling.Backoff | None]


def _sign_in_limits(email: str, address: str | None, device: Device | None) -> list[_Limit]:
    if device is not None:
        return [
            (f"sign-in:device:{device.nonce}", SIGN_IN_DEVICE_WINDOW, SIGN_IN_DEVICE_LIMIT, None)
        ]
    where = address or "unknown"
    return [
        (f"sign-in:account-address:{email}:{where}", SIGN_IN_WINDOW, SIGN_IN_LIMIT, None),
        (f"sign-in:address:{where}", SIGN_IN_WINDOW, SIGN_IN_ADDRESS_LIMIT, None),
        (
            f"sign-in:account:{email}",
            SIGN_IN_ACCOUNT_WINDOW,
            SIGN_IN_ACCOUNT_LIMIT,
            SIGN_IN_ACCOUNT_BACKOFF,
        ),
    ]


def _wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def _reserve(limits: list[_Limit], message: str) -> list[Any]:
    """Record one attempt on every key, all or none; RateLimited when a key is full."""
    recorded: list[tuple[str, throttling.Decision]] = []
    for key, window, limit, backoff in limits:
        decision = await throttling.hit(key=key, window=window, limit=limit, backoff=backoff)
        if not decision.allowed:
            for earlier_key, earlier in recorded:
                await throttling.undo(key=earlier_key, decision=earlier)
            wait = max(decision.retry_after_seconds, 1)
            raise RateLimited(f"{message} Try again in {_wait_text(wait)}.", retry_after=wait)
        recorded.append((key, decision))
    return recorded


async def _forgive(recorded: list[Any]) -> None:
    for key, decision in recorded:
        await throttling.undo(key=key, decision=decision)


async def sign_in(
    *,
    settings: Settings,
    email: str,
    password: str,
    client: Client = Client(),
    device_token: str | None = None,
) -> IssuedSession:
    """A new session (and a device token) for the user with this email and password. An
    unknown email and a wrong password fail alike (same code, same work). Failures are
    throttled: from a known device (`device_token` from an earlier sign-in of this user)
    by that device's own failures only, else per account and address, per address, and
    per account with growing waits."""
    normalized = normalize_email(email)
    known = normalized and fits_column(User, "email", normalized)
    user = await User.get_or_none(email=normalized, deleted_at=None) if known else None
    device = read_device_token(settings, device_token)
    if device is not None and (
        user is None or not device.trusted_for(user.id, user.password_changed_at)
    ):
        device = None
    limits = _sign_in_limits(normalized, client.address, device)
    # Counted before the password is checked, so parallel guesses cannot race past the
    # limit; a sign-in that succeeds takes its attempt back. Refused: not checked at all.
    recorded = await _reserve(limits, "Too many failed sign-ins.")
    if not await verify_password(user.password_hash if user else None, password):
        raise InvalidCredentials()
    assert user is not None
    await _forgive(recorded)
    # This device or address has proved the password: its own run of failures is over.
    # (The account's count is not reset: that would hand a guesser fresh attempts.)
    await throttling.reset(key=limits[0][0])
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await user.save(update_fields=["password_hash"])
    issued = await start_session(settings=settings, user=user, client=client)
    return replace(issued, device_token=issue_device_token(settings, user_id=user.id))


async def start_session(*, settings: Settings, user: User, client: Client) -> IssuedSession:
    now = clock.now()
    refresh_token, token_hash = new_refresh_token()
    expires = now + timedelta(seconds=settings.refresh_token_ttl_seconds)
    async with in_transaction():
        session = await Session.create(
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=expires,
            user_agent=(client.user_agent or "")[:255] or None,
            ip_address=(client.address or "")[:45] or None,
        )
        await RefreshToken.create(
            session_id=session.id, token_hash=token_hash, created_at=now, expires_at=expires
        )
    return _issued(settings, user, session.id, refresh_token, expires)


async def _end_sessions(reason: SessionEnd, **filters: Any) -> int:
    return await Session.filter(ended_at=None, **filters).update(
        ended_at=clock.now(), end_reason=reason
    )


async def refresh_session(
    *, settings: Settings, refresh_token: str, client: Client = Client()
) -> IssuedSession:
    """New tokens for a refresh token, which stops working. A refresh token presented after
    it was exchanged ends its whole session (the family): someone else may hold it. Of
    parallel exchanges of one token, at most one succeeds."""
    field = ["refreshToken"]
    now = clock.now()
    token = await RefreshToken.get_or_none(
        token_hash=hash_refresh_token(refresh_token)
    ).select_related("session__user")
    if token is None:
        raise InvalidRefreshToken(field=field)
    session: Session = token.session
    if session.ended_at is not None:
        raise InvalidRefreshToken("This session has ended; sign in again.", field=field)
    if token.used_at is not None:
        await _end_sessions(SessionEnd.REFRESH_TOKEN_REUSED, id=session.id)
        raise RefreshTokenReused(field=field)
    if token.expires_at <= now or session.user.deleted_at is not None:
        raise InvalidRefreshToken(field=field)

    new_token, new_hash = new_refresh_token()
    expires = now + timedelta(seconds=settings.refresh_token_ttl_seconds)
    async with in_transaction():
        # The exchange: one conditional UPDATE, so only one of parallel requests wins.
        claimed = await RefreshToken.filter(id=token.id, used_at=None).update(used_at=now)
        if claimed == 1:
            await RefreshToken.create(
                session_id=session.id, token_hash=new_hash, created_at=now, expires_at=expires
            )
            live = await Session.filter(id=session.id, ended_at=None).update(
                last_used_at=now,
                expires_at=expires,
                ip_address=(client.address or "")[:45] or None,
            )
            if live == 0:  # ended meanwhile (sign-out): undo the exchange
                raise InvalidRefreshToken("This session has ended; sign in again.", field=field)
    if claimed == 0:
        await _end_sessions(SessionEnd.REFRESH_TOKEN_REUSED, id=session.id)
        raise RefreshTokenReused(field=field)
    user = session.user
    return _issued(settings, user, session.id, new_token, expires)


async def sign_out(*, refresh_token: str, everywhere: bool = False) -> int:
    """End the session of `refresh_token` (any token of the family, even an expired one),
    or every session of its user. Returns how many sessions ended."""
    token = await RefreshToken.get_or_none(
        token_hash=hash_refresh_token(refresh_token)
    ).select_related("session")
    if token is None:
        raise InvalidRefreshToken(field=["refreshToken"])
    if everywhere:
        return await end_all_sessions(
            user_id=token.session.user_id, reason=SessionEnd.SIGNED_OUT_EVERYWHERE
        )
    return await _end_sessions(SessionEnd.SIGNED_OUT, id=token.session_id)


async def end_all_sessions(
    *, user_id: int, reason: SessionEnd, keep_session_id: int | None = None
) -> int:
    """End every session of the user (all their access and refresh tokens stop working),
    except `keep_session_id`. For sign-out everywhere, password changes, account deletion."""
    query = Session.filter(user_id=user_id, ended_at=None)
    if keep_session_id is not None:
        query = query.exclude(id=keep_session_id)
    return await query.update(ended_at=clock.now(), end_reason=reason)


async def end_session(*, user_id: int, session_id: int) -> None:
    """End one of the user's own sessions (another device); NotFound for anyone else's."""
    ended = await Session.filter(id=session_id, user_id=user_id, ended_at=None).update(
        ended_at=clock.now(), end_reason=SessionEnd.SIGNED_OUT_REMOTELY
    )
    if ended == 0:
        raise NotFound("No such session.", field=["id"])


async def get_live_session(*, user_id: int, session_id: int) -> Session | None:
    """The user's own session if it has not ended; None for anyone else's."""
    return await Session.get_or_none(
        id=session_id, user_id=user_id, ended_at=None, expires_at__gt=clock.now()
    )


async def list_live_sessions(*, user_id: int, first: int, after: str | None) -> Page[Session]:
    """The user's sessions that have not ended, most recently used first."""
    return await keyset_page(
        Session.filter(user_id=user_id, ended_at=None, expires_at__gt=clock.now()),
        first=first,
        after=after,
        order_by=("-last_used_at", "-id"),
    )


async def purge_expired_refresh_tokens(*, grace: timedelta = timedelta(days=1)) -> int:
    """Delete refresh tokens that expired more than `grace` ago (they can no longer be
    exchanged, so reuse detection has no use for them). For a periodic job."""
    return await RefreshToken.filter(expires_at__lt=clock.now() - grace).delete()


async def change_password(
    *,
    settings: Settings,
    user_id: int,
    current_password: str,
    new_password: str,
    client: Client = Client(),
) -> IssuedSession:
    """Set a new password after checking the current one. Every session ends (other
    devices must sign in again); this device gets a new one."""
    user = await get_active_user(user_id)
    if user is None:
        raise NotFound("No such account.")
    limits: list[_Limit] = [
        (f"password-check:{user.id}", PASSWORD_CHECK_WINDOW, PASSWORD_CHECK_LIMIT, None)
    ]
    recorded = await _reserve(limits, "Too many wrong passwords.")
    if not await verify_password(user.password_hash, current_password):
        raise InvalidPassword(field=["input", "currentPassword"])
    await _forgive(recorded)
    check_password(
        new_password,
        field=["input", "newPassword"],
        email=user.email,
        display_name=user.display_name,
    )
    now = clock.now()
    user.password_hash = await hash_password(new_password)
    user.password_changed_at = user.updated_at = now
    async with in_transaction():
        await user.save(update_fields=["password_hash", "password_changed_at", "updated_at"])
        await end_all_sessions(user_id=user.id, reason=SessionEnd.PASSWORD_CHANGED)
    # Device tokens issued before now are no longer trusted: this device gets a new one.
    issued = await start_session(settings=settings, user=user, client=client)
    return replace(issued, device_token=issue_device_token(settings, user_id=user.id))


# --- Profile and consents ----------------------------------------------------------------


async def update_profile(
    *,
    user_id: int,
    display_name: str | _Keep | None = KEEP,
    birth_date: date | _Keep | None = KEEP,
    locale: str | _Keep | None = KEEP,
) -> User:
    """Change the fields given. A display name cannot be removed; birth date and locale
    are removed with None."""
    user = await get_active_user(user_id)
    if user is None:
        raise NotFound("No such account.")
    problems = InputErrors()
    changed: list[str] = []
    if not isinstance(display_name, _Keep):
        with problems.catch():
            if display_name is None:
                raise InvalidInput("The name must not be empty.", field=["input", "displayName"])
            user.display_name = clean_display_name(display_name, field=["input", "displayName"])
            changed.append("display_name")
    if not isinstance(birth_date, _Keep):
        with problems.catch():
            user.birth_date = clean_birth_date(birth_date, field=["input", "birthDate"])
            changed.append("birth_date")
    if not isinstance(locale, _Keep):
        with problems.catch():
            user.locale = clean_locale(locale, field=["input", "locale"])
            changed.append("locale")
    problems.raise_any()
    if changed:
        user.updated_at = clock.now()
        await user.save(update_fields=[*changed, "updated_at"])
    return user


async def update_consents(*, user_id: int, personalization: bool, marketing: bool) -> User:
    """Set both consents; when either changes, record when (and keep the history)."""
    user = await get_active_user(user_id)
    if user is None:
        raise NotFound("No such account.")
    if (user.consent_personalization, user.consent_marketing) == (personalization, marketing):
        return user
    now = clock.now()
    user.consent_personalization = personalization
    user.consent_marketing = marketing
    user.consents_updated_at = user.updated_at = now
    async with in_transaction():
        await user.save(
            update_fields=[
                "consent_personalization",
                "consent_marketing",
                "consents_updated_at",
                "updated_at",
            ]
        )
        await ConsentChange.create(
            user_id=user.id,
            personalization=personalization,
            marketing=marketing,
            source="UPDATE",
            changed_at=now,
        )
    return user


def _issued(
    settings: Settings, user: User, session_id: int, refresh_token: str, refresh_expires: datetime
) -> IssuedSession:
    """The answer to a sign-in or a refresh: a new access token next to the refresh token."""
    access_token, access_expires = issue_access_token(
        settings, user_id=user.id, role=str(user.role), session_id=session_id
    )
    return IssuedSession(
        session_id=session_id,
        user_id=user.id,
        access_token=access_token,
        access_token_expires_at=access_expires,
        refresh_token=refresh_token,
        refresh_token_expires_at=refresh_expires,
    )
