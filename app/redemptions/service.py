"""Redeeming use cases. No GraphQL here: keyword-only arguments, domain errors.

Money moves only through the ledger: a redemption is a ledger reservation keyed by
`redemption:<id>`, made, captured or released in the same transaction as this feature's
row, so the row and the money never disagree. Rows are locked before the wallet, always in
that order. A reservation past its `expiresAt` is EXPIRED the moment it lapses: the ledger
settles the wallet on the next read or write, and this feature reads the row as EXPIRED.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import db, ledger
from app.catalog import service as catalog
from app.catalog.errors import UnknownMerchant
from app.catalog.values import Channel
from app.core import clock
from app.core.errors import (
    DomainError,
    IdempotencyKeyReused,
    InputErrors,
    InvalidAmount,
    InvalidInput,
    NotFound,
    RateLimited,
)
from app.core.ids import decode_id
from app.core.money import Money, parse_money
from app.core.pagination import Page, keyset_page
from app.ledger import InsufficientBalance, ReservationClosed
from app.notifications import triggers as notifications
from app.program.service import Program, get_program
from app.redemptions import codes
from app.redemptions.errors import (
    AboveMaximum,
    AlreadyCaptured,
    BelowMinimum,
    InvalidCode,
    RedemptionExpired,
    RedemptionNotOpen,
    UnknownRedemption,
)
from app.redemptions.models import Redemption, RedemptionStatus
from app.settings import Settings
from app.throttling import service as throttling

VALIDITY = {Channel.IN_STORE: timedelta(minutes=10), Channel.ONLINE: timedelta(minutes=30)}
MAX_KEY_LENGTH = 128
MAX_ORDER_REFERENCE_LENGTH = 128
# Wrong in-store codes are counted per partner client: a client that sends this many
# within the window at one store is refused there for a while, and this many across all
# its stores everywhere. Other clients' terminals, even at the same store, are not
# affected, and capturing a right code clears nothing.
WRONG_CODES_ALLOWED = 5
WRONG_CODES_PER_CLIENT = 20
WRONG_CODES_WINDOW = timedelta(minutes=5)
# Draws of a fresh code when one collides with an open redemption's.
CODE_DRAWS = 8

RESERVED = RedemptionStatus.RESERVED
CAPTURED = RedemptionStatus.CAPTURED
RELEASED = RedemptionStatus.RELEASED
EXPIRED = RedemptionStatus.EXPIRED


@dataclass(frozen=True, slots=True)
class Quote:
    maximum: Money
    minimum: Money
    available: Money


async def _none() -> None:
    return None


# Reading


def current_status(row: Redemption) -> RedemptionStatus:
    """The status as it is now: a reservation past its expiry is EXPIRED whether or not
    anything has written that down yet."""
    if row.status == RESERVED and row.expires_at <= clock.now():
        return EXPIRED
    return RedemptionStatus(row.status)


def visible_code(
    row: Redemption, *, viewer_customer_id: int | None, settings: Settings
) -> str | None:
    """The in-store code, for its owner only and only while the redemption is open."""
    if viewer_customer_id is None or viewer_customer_id != row.customer_id:
        return None
    if row.code_sealed is None or current_status(row) != RESERVED:
        return None
    return codes.keys_for(settings).unseal(row.code_sealed, bound_to=_seal_binding(row))


async def get_for_customer(*, customer_id: int, redemption_id: int) -> Redemption | None:
    return await Redemption.get_or_none(id=redemption_id, customer_id=customer_id)


async def list_redemptions(*, customer_id: int, first: int, after: str | None) -> Page[Redemption]:
    """The customer's redemptions, newest first."""
    return await keyset_page(
        Redemption.filter(customer_id=customer_id), first=first, after=after, order_by=("-id",)
    )


async def credits_captured_for_orders(
    orders: Iterable[tuple[int, str]],
) -> dict[tuple[int, str], int]:
    """For (store id, order reference) pairs, the credits (minor units) captured for that
    order at that store: what paid part of it, so earns no cashback. Pairs with nothing
    captured are left out."""
    pairs = set(orders)
    if not pairs:
        return {}
    rows = await Redemption.filter(
        status=CAPTURED,
        store_id__in={store for store, _ in pairs},
        order_reference__in={reference for _, reference in pairs},
    ).values_list("store_id", "order_reference", "amount_minor")
    found: dict[tuple[int, str], int] = {}
    for store, reference, amount in rows:
        if (store, reference) in pairs:
            found[(store, reference)] = found.get((store, reference), 0) + amount
    return found


async def quote(
    *, customer_id: int, merchant_id: str, order_total: Decimal, currency: str
) -> Quote:
    """How much of the balance may pay an order of `order_total` at the merchant."""
    program = await get_program()
    problems = InputErrors()
    merchant_pk: int | None = None
    total: Money | None = None
    with problems.catch():
        merchant_pk = catalog.merchant_pk(merchant_id, field=["merchantId"])
    with problems.catch():
        total = parse_money(
            order_total, currency, program_currency=program.currency_code, field=["orderTotal"]
        )
    if problems:
        raise problems.errors[0]  # a query reports one top-level error
    assert merchant_pk is not None and total is not None
    if await catalog.get_merchant(merchant_pk) is None:
        raise UnknownMerchant(field=["merchantId"])
    balance = await ledger.get_balance(customer_id=customer_id, currency=program.currency_code)
    available = Money.from_minor(balance.available, program.currency_code)
    cap = total.times(program.max_redemption_share)
    return Quote(
        maximum=cap if cap < available else available,
        minimum=program.minimum_redemption,
        available=available,
    )


# Starting


async def start_redemption(
    *,
    settings: Settings,
    customer_id: int,
    merchant_id: str,
    amount: Decimal,
    currency: str,
    channel: Channel | str,
    idempotency_key: str,
    order_total: tuple[Decimal, str] | None = None,
) -> Redemption:
    """Reserve `amount` of the customer's available credits for a redemption at the
    merchant. The same idempotency key returns the redemption it made first."""
    channel = Channel(channel)
    problems = InputErrors()
    key = idempotency_key.strip()
    key_ok = 0 < len(key) <= MAX_KEY_LENGTH
    if not key_ok:
        problems.add(
            InvalidInput(
                f"The idempotency key needs 1 to {MAX_KEY_LENGTH} characters.",
                field=["input", "idempotencyKey"],
            )
        )
    merchant_pk: int | None = None
    with problems.catch():
        merchant_pk = catalog.merchant_pk(merchant_id, field=["input", "merchantId"])
    # The reads before the transaction do not depend on each other: one round trip's wait.
    program, existing, merchant = await asyncio.gather(
        get_program(),
        Redemption.get_or_none(customer_id=customer_id, idempotency_key=key) if key_ok else _none(),
        catalog.get_merchant(merchant_pk) if merchant_pk is not None else _none(),
    )
    value: Money | None = None
    with problems.catch():
        value = parse_money(
            amount, currency, program_currency=program.currency_code, field=["input", "amount"]
        )
    total: Money | None = None
    with problems.catch():
        total = _order_total(order_total, program)
    problems.raise_any()
    assert merchant_pk is not None and value is not None

    request = _Request(merchant_pk, value, total, channel)
    if existing is not None:
        return request.same_as(existing)

    if merchant is None:
        problems.add(UnknownMerchant(field=["input", "merchantId"]))
    if value.minor <= 0:
        problems.add(InvalidAmount("Redeem more than zero.", field=["input", "amount"]))
    elif program.max_redemption_amount < value:
        problems.add(
            InvalidAmount(
                f"One redemption takes at most {program.max_redemption_amount}.",
                field=["input", "amount"],
            )
        )
    elif value < program.minimum_redemption:
        problems.add(
            BelowMinimum(
                f"The least that can be redeemed is {program.minimum_redemption}.",
                field=["input", "amount"],
            )
        )
    if total is not None and total.times(program.max_redemption_share) < value:
        problems.add(
            AboveMaximum(
                f"Credits may pay at most {program.max_redemption_share:%} of the order: "
                f"{total.times(program.max_redemption_share)}.",
                field=["input", "amount"],
            )
        )
    problems.raise_any()
    assert merchant is not None
    description = f"Redemption at {merchant.name}"

    async def reserve() -> Redemption:
        return await _open(
            customer_id=customer_id,
            key=key,
            request=request,
            note=description,
            keys=codes.keys_for(settings),
        )

    try:
        return await db.retrying(reserve)
    except InsufficientBalance as error:
        raise error.at("input", "amount") from None


@dataclass(frozen=True, slots=True)
class _Request:
    merchant_id: int
    amount: Money
    order_total: Money | None
    channel: Channel

    def same_as(self, row: Redemption) -> Redemption:
        """`row` when it was made by this very request, else IDEMPOTENCY_KEY_REUSED."""
        made = (
            row.merchant_id,
            row.amount_minor,
            row.currency,
            Channel(row.channel),
            row.order_total_minor,
        )
        asked = (
            self.merchant_id,
            self.amount.minor,
            self.amount.currency,
            self.channel,
            self.order_total.minor if self.order_total is not None else None,
        )
        if made != asked:
            raise IdempotencyKeyReused(
                "This idempotency key was already used for a different redemption.",
                field=["input", "idempotencyKey"],
            )
        return row


async def _open(
    *, customer_id: int, key: str, request: _Request, note: str, keys: codes.CodeKeys
) -> Redemption:
    """Insert the row and reserve its credits in one transaction; on a duplicate key, the
    redemption that key made (another request with it may have just committed)."""
    for _ in range(CODE_DRAWS):
        code = codes.new_code() if request.channel == Channel.IN_STORE else None
        now = clock.now()
        try:
            async with in_transaction():
                row = await Redemption.create(
                    customer_id=customer_id,
                    merchant_id=request.merchant_id,
                    channel=request.channel,
                    status=RESERVED,
                    amount_minor=request.amount.minor,
                    currency=request.amount.currency,
                    order_total_minor=(
                        request.order_total.minor if request.order_total is not None else None
                    ),
                    idempotency_key=key,
                    code_hash=keys.digest(code) if code else None,
                    code_sealed=keys.seal(code, bound_to=_binding(customer_id, key))
                    if code
                    else None,
                    expires_at=now + VALIDITY[request.channel],
                    created_at=now,
                )
                await ledger.reserve(
                    customer_id=customer_id,
                    currency=request.amount.currency,
                    amount=request.amount.minor,
                    reservation_key=row.reservation_key,
                    expires_at=row.expires_at,
                    merchant_id=request.merchant_id,
                    description=note,
                    source_type="redemption",
                    source_id=row.id,
                )
            return row
        except IntegrityError:
            existing = await Redemption.get_or_none(customer_id=customer_id, idempotency_key=key)
            if existing is not None:
                return request.same_as(existing)
            if code is None:
                raise
            # The code is held by another open redemption: draw again.
    raise RuntimeError("no free in-store code after several draws")


# Capturing and releasing


async def capture_redemption(
    *,
    settings: Settings,
    merchant_scope: int | None,
    store_id: str,
    code: str | None,
    redemption_id: str | None,
    order_reference: str,
    order_total: tuple[Decimal, str] | None = None,
    partner_client_id: int | None = None,
) -> Redemption:
    """Spend a redemption's reserved credits on an order at a store of the partner's
    merchant (`merchant_scope`; None for a partner of the whole program). Wrong codes
    are throttled per partner client (`partner_client_id`; None for the operator's own
    tools)."""
    program = await get_program()
    problems = InputErrors()
    reference = order_reference.strip()
    if not reference or len(reference) > MAX_ORDER_REFERENCE_LENGTH:
        problems.add(
            InvalidInput(
                f"The order reference needs 1 to {MAX_ORDER_REFERENCE_LENGTH} characters.",
                field=["input", "orderReference"],
            )
        )
    total: Money | None = None
    with problems.catch():
        total = _order_total(order_total, program)
    with problems.catch():
        _one_way_to_name(code, redemption_id)
    problems.raise_any()
    store = await catalog.store_in_scope(store_id, merchant_scope)
    row = await _find(
        store,
        code=code,
        redemption_id=redemption_id,
        reference=reference,
        settings=settings,
        partner_client_id=partner_client_id,
    )
    if row.channel == Channel.IN_STORE and code is None:
        raise InvalidInput(
            "An in-store redemption is captured with the code the customer shows.",
            field=["input", "redemptionId"],
        )

    async def capture() -> tuple[Redemption, bool]:
        return await _capture(row.id, store, reference, total, program)

    # A right code clears no wrong ones: a guesser holding one real code would otherwise
    # get fresh guesses with each capture.
    captured, _ = await db.retrying(capture)
    return captured


async def release_redemption(
    *,
    settings: Settings,
    merchant_scope: int | None,
    store_id: str,
    code: str | None,
    redemption_id: str | None,
    partner_client_id: int | None = None,
) -> Redemption:
    """Give a redemption's reserved credits back (the order did not go through)."""
    problems = InputErrors()
    with problems.catch():
        _one_way_to_name(code, redemption_id)
    problems.raise_any()
    store = await catalog.store_in_scope(store_id, merchant_scope)
    row = await _find(
        store,
        code=code,
        redemption_id=redemption_id,
        reference=None,
        settings=settings,
        partner_client_id=partner_client_id,
    )

    async def release() -> Redemption:
        return await _release(row.id, merchant_id=store.merchant_id, field=None)

    return await db.retrying(release)


async def cancel_redemption(*, customer_id: int, redemption_id: str) -> Redemption:
    """The customer gives up an open redemption: its credits are available again."""
    try:
        pk = decode_id(redemption_id, "Redemption")
    except NotFound:
        raise UnknownRedemption(field=["id"]) from None

    async def release() -> Redemption:
        return await _release(pk, customer_id=customer_id, field=["id"])

    return await db.retrying(release)


async def expire_lapsed(*, limit: int = 500) -> int:
    """Write EXPIRED on redemptions past their expiry (their credits are already
    available again: reads see them expired either way). For a periodic job."""
    ids = await (
        Redemption.filter(status=RESERVED, expires_at__lte=clock.now())
        .order_by("expires_at")
        .limit(limit)
        .values_list("id")
    )
    for (pk,) in ids:

        async def expire(pk: int = pk) -> Redemption:
            return await _release(pk, field=None)

        await db.retrying(expire)
    return len(ids)


async def _capture(
    pk: int, store: catalog.StoreInfo, reference: str, total: Money | None, program: Program
) -> tuple[Redemption, bool]:
    """(the redemption, whether this call captured it)."""
    outcome: DomainError | None = None
    async with in_transaction():
        row = await Redemption.select_for_update().get(id=pk)
        now = clock.now()
        if row.status == CAPTURED:
            if row.order_reference == reference and row.store_id == store.id:
                return row, False
            raise AlreadyCaptured(field=["input", "orderReference"])
        if row.status == RELEASED:
            raise RedemptionNotOpen("This redemption was cancelled; its credits went back.")
        if row.status == EXPIRED:
            raise RedemptionExpired()
        if total is not None and total.times(program.max_redemption_share).minor < row.amount_minor:
            raise AboveMaximum(
                f"Credits may pay at most {program.max_redemption_share:%} of the order.",
                field=["input", "orderTotal"],
            )
        if row.expires_at <= now:
            await _close(row, EXPIRED)
            outcome = RedemptionExpired()
        else:
            try:
                await ledger.capture_reservation(reservation_key=row.reservation_key)
            except ReservationClosed:
                # It lapsed between our look at the clock and the ledger's.
                outcome = await _follow_ledger(row)
            else:
                row.status = CAPTURED
                row.captured_at = now
                row.closed_at = now
                row.code_sealed = None
                row.order_reference = reference
                row.store_id = store.id
                row.captured_channel = store.channel
                row.captured_order_total_minor = total.minor if total is not None else None
                await row.save(
                    update_fields=[
                        "status",
                        "captured_at",
                        "closed_at",
                        "code_sealed",
                        "order_reference",
                        "store_id",
                        "captured_channel",
                        "captured_order_total_minor",
                    ]
                )
                await notifications.redemption_captured(
                    customer_id=row.customer_id,
                    redemption_id=row.id,
                    amount_minor=row.amount_minor,
                    currency=row.currency,
                    merchant_name=store.merchant_name,
                    now=now,
                )
    if outcome is not None:
        raise outcome
    return row, True


async def _release(
    pk: int,
    *,
    customer_id: int | None = None,
    merchant_id: int | None = None,
    field: Sequence[str] | None,
) -> Redemption:
    """Release an open redemption (or write down that it lapsed); a redemption already
    released or expired is returned as it is."""
    async with in_transaction():
        query = Redemption.select_for_update().filter(id=pk)
        if customer_id is not None:
            query = query.filter(customer_id=customer_id)
        if merchant_id is not None:
            query = query.filter(merchant_id=merchant_id)
        row = await query.first()
        if row is None:
            raise UnknownRedemption(field=field)
        if row.status == CAPTURED:
            raise RedemptionNotOpen("This redemption was already captured.")
        if row.status == RESERVED:
            lapsed = row.expires_at <= clock.now()
            await _close(row, EXPIRED if lapsed else RELEASED)
    return row


async def _close(row: Redemption, status: RedemptionStatus) -> None:
    """Give the reserved credits back and write down how the redemption ended."""
    await ledger.release_reservation(reservation_key=row.reservation_key, expired=status == EXPIRED)
    row.status = status
    row.closed_at = clock.now()
    row.code_sealed = None
    await row.save(update_fields=["status", "closed_at", "code_sealed"])


async def _follow_ledger(row: Redemption) -> DomainError:
    """Write down what the ledger says happened to a reservation it would not capture."""
    state = await ledger.reservation_status(reservation_key=row.reservation_key)
    if state == "RELEASED":
        await _close(row, RELEASED)
        return RedemptionNotOpen()
    await _close(row, EXPIRED)
    return RedemptionExpired()


# Finding a redemption for a partner


def _one_way_to_name(code: str | None, redemption_id: str | None) -> None:
    if (code is None) == (redemption_id is None):
        raise InvalidInput("Give either the code or the redemptionId.", field=["input", "code"])


async def _find(
    store: catalog.StoreInfo,
    *,
    code: str | None,
    redemption_id: str | None,
    reference: str | None,
    settings: Settings,
    partner_client_id: int | None,
) -> Redemption:
    """The redemption of the store's merchant named by id or by code."""
    if code is not None:
        return await _find_by_code(
            store, code, reference, codes.keys_for(settings), partner_client_id
        )
    assert redemption_id is not None
    try:
        pk = decode_id(redemption_id, "Redemption")
    except NotFound:
        raise UnknownRedemption(field=["input", "redemptionId"]) from None
    row = await Redemption.get_or_none(id=pk, merchant_id=store.merchant_id)
    if row is None:
        raise UnknownRedemption(field=["input", "redemptionId"])
    return row


async def _find_by_code(
    store: catalog.StoreInfo,
    code: str,
    reference: str | None,
    keys: codes.CodeKeys,
    partner_client_id: int | None,
) -> Redemption:
    """Code attempts of one partner client are taken one at a time (a lock per client, on
    any number of processes): its limits are checked, the code looked up and a wrong one
    counted as one step, so parallel requests cannot try more codes than the limits allow,
    and right codes, however many at once, never count."""
    limits = _code_limits(partner_client_id, store.id)
    normalized = codes.normalize_code(code)
    refused: throttling.Decision | None = None
    row: Redemption | None = None
    async with in_transaction() as connection:
        if db.dialect() == "postgres":
            await connection.execute_query(
                "SELECT pg_advisory_xact_lock($1)", [_lock_id(limits[-1][0])]
            )
        for key, limit in limits:
            decision = await throttling.check(key=key, window=WRONG_CODES_WINDOW, limit=limit)
            if not decision.allowed:
                refused = decision
                break
        else:
            rows = (
                await Redemption.filter(
                    code_hash=keys.digest(normalized), merchant_id=store.merchant_id
                )
                .order_by("-id")
                .limit(20)
                if normalized is not None
                else []
            )
            row = _pick(rows, store_id=store.id, reference=reference)
            if row is None:
                for key, limit in limits:
                    await throttling.hit(key=key, window=WRONG_CODES_WINDOW, limit=limit)
    if refused is not None:
        raise RateLimited(
            "Too many wrong codes from this partner system; try again in a few minutes.",
            retry_after=refused.retry_after_seconds,
        )
    if row is None:
        raise InvalidCode(field=["input", "code"])
    return row


def _pick(rows: list[Redemption], *, store_id: int, reference: str | None) -> Redemption | None:
    """Codes are unique among open redemptions, not forever: prefer the capture this very
    order made (a retry), then the open one, then the latest."""
    if reference is not None:
        for row in rows:
            if (
                row.status == CAPTURED
                and row.order_reference == reference
                and row.store_id == store_id
            ):
                return row
    for row in rows:
        if row.status == RESERVED:
            return row
    return rows[0] if rows else None


def _lock_id(key: str) -> int:
    """A PostgreSQL advisory lock id (signed 64 bits) for `key`."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _code_limits(partner_client_id: int | None, store_id: int) -> list[tuple[str, int]]:
    """The wrong-code keys of a partner client at a store (the last, the client's across
    all stores, is also what its attempts are serialised on)."""
    client = "operator" if partner_client_id is None else str(partner_client_id)
    return [
        (f"redemption-code:client-store:{client}:{store_id}", WRONG_CODES_ALLOWED),
        (f"redemption-code:client:{client}", WRONG_CODES_PER_CLIENT),
    ]


# Input


def _order_total(order_total: tuple[Decimal, str] | None, program: Program) -> Money | None:
    """The order total a partner or customer gave, if any."""
    if order_total is None:
        return None
    return parse_money(
        *order_total, program_currency=program.currency_code, field=["input", "orderTotal"]
    )


def _binding(customer_id: int, key: str) -> str:
    return f"redemption:{customer_id}:{key}"


def _seal_binding(row: Redemption) -> str:
    return _binding(row.customer_id, row.idempotency_key)
