"""Earning use cases: tiers, cashback rules, purchases, refunds and the cashback preview.
No GraphQL here: keyword-only arguments, domain errors with stable codes and field paths.

Money moves only through app.ledger: a purchase and the credit of its cashback commit in
one transaction, and so do a refund and the take-back of its share of the cashback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app import ledger
from app.accounts import service as accounts
from app.accounts.tokens import Principal
from app.cashback import offers_seam, redemptions_seam, sql
from app.cashback.earning import (
    Earning,
    Line,
    Part,
    PurchaseFacts,
    RuleTerms,
    TierTerms,
    compute_cashback,
)
from app.cashback.models import CashbackRule, Purchase, PurchaseItem, PurchaseStatus, Refund, Tier
from app.catalog import service as catalog
from app.catalog.errors import UnknownMerchant, UnknownStore
from app.catalog.service import (
    StoreInfo,
    clean_text,
    normalize_category,
    parse_percent,
)
from app.catalog.values import Channel
from app.core import clock
from app.core.columns import fits_column
from app.core.decimals import plain_decimal
from app.core.errors import (
    DomainError,
    DomainErrors,
    ErrorCode,
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidInput,
    NotFound,
    TooManyItems,
)
from app.core.ids import decode_id
from app.core.money import Money, minor_units, parse_money
from app.core.pagination import Page, keyset_page
from app.db import retrying
from app.program.service import Program, get_program

log = logging.getLogger(__name__)

MAX_PURCHASES_PER_BATCH = 500
# Purchases of a batch recorded at once (each on its own connection and transaction).
BATCH_LANES = 4
MAX_ITEMS_PER_PURCHASE = 500
# Clocks of points of sale drift: an occurredAt up to this far ahead is accepted.
FUTURE_TOLERANCE = timedelta(minutes=10)
TIER_WINDOW = timedelta(days=365)
SOURCE_PURCHASE = "purchase"
CASHBACK = "CASHBACK"

PARTNER_PURCHASE_SCOPES = frozenset({"purchases:write", "purchases:read"})


# --- errors ----------------------------------------------------------------------------


class UnknownCustomer(DomainError):
    code = ErrorCode.UNKNOWN_CUSTOMER
    default_message = "No customer matches this reference."


class DuplicatePurchaseMismatch(DomainError):
    code = ErrorCode.DUPLICATE_PURCHASE_MISMATCH
    default_message = "This externalId was already recorded at this store with other details."


class ItemsTotalMismatch(DomainError):
    code = ErrorCode.ITEMS_TOTAL_MISMATCH
    default_message = "The items do not add up to the total."


class OccurredInFuture(DomainError):
    code = ErrorCode.OCCURRED_IN_FUTURE
    default_message = "occurredAt is in the future."


class UnknownPurchase(DomainError):
    code = ErrorCode.UNKNOWN_PURCHASE
    default_message = "No purchase has this externalId at this store."


class RefundExceedsPurchase(DomainError):
    code = ErrorCode.REFUND_EXCEEDS_PURCHASE
    default_message = "This is more than what is left to refund of the purchase."


# --- inputs and results ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """Exactly one of these names the customer."""

    member_code: str | None = None
    email: str | None = None
    customer_id: str | None = None  # an opaque Customer id


@dataclass(frozen=True, slots=True)
class ItemInput:
    sku: str
    quantity: int
    unit_price_amount: Decimal
    unit_price_currency: str
    name: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseInput:
    store_id: str
    external_id: str
    customer: CustomerRef | None
    total_amount: Decimal
    total_currency: str
    occurred_at: datetime
    items: Sequence[ItemInput] | None = None
    credits_used_amount: Decimal | None = None
    credits_used_currency: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One purchase of a batch: recorded (or found already recorded), or refused."""

    purchase: Purchase | None = None
    error: DomainError | DomainErrors | None = None
    created: bool = False


@dataclass(frozen=True, slots=True)
class TierInfo:
    code: str
    name: str
    multiplier: Decimal
    minimum_spend: Money

    @property
    def terms(self) -> TierTerms:
        return TierTerms(code=self.code, name=self.name, multiplier=self.multiplier)


@dataclass(frozen=True, slots=True)
class CustomerTier:
    tier: TierInfo
    next_tier: TierInfo | None
    spend: Money
    spend_to_next_tier: Money | None


@dataclass(frozen=True, slots=True)
class Preview:
    earning: Earning
    currency: str
    tier: TierInfo
    available_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class TierSpec:
    code: str
    name: str
    multiplier: Decimal
    minimum_spend_amount: Decimal
    minimum_spend_currency: str


# --- small helpers -------------------------------------------------------------------


def as_utc(value: datetime) -> datetime:
    """Client times may carry any offset (or none, read as UTC); stored times are UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _decode(global_id: str, type_name: str, error: DomainError) -> int:
    try:
        return decode_id(global_id, type_name)
    except NotFound:
        raise error from None


def cashback_dates(
    *, occurred_at: datetime, program: Program, now: datetime
) -> tuple[datetime, datetime]:
    """When new cashback becomes available and when it then expires."""
    available_at = occurred_at + timedelta(days=program.pending_days)
    if program.pending_days == 0:
        available_at = min(available_at, now)
    return available_at, available_at + timedelta(days=program.credit_validity_days)


# --- tiers -----------------------------------------------------------------------------

DEFAULT_TIERS = (
    ("BRONZE", "Bronze", Decimal("1.0"), 0),
    ("SILVER", "Silver", Decimal("1.25"), 1_000),
    ("GOLD", "Gold", Decimal("1.5"), 5_000),
)


def _tier_info(row: Tier, currency: str) -> TierInfo:
    return TierInfo(
        code=row.code,
        name=row.name,
        multiplier=plain_decimal(row.multiplier),
        minimum_spend=Money.from_minor(row.minimum_spend_minor, currency),
    )


async def list_tiers(*, currency: str | None = None) -> list[TierInfo]:
    """The tiers by the spend that reaches them (the defaults on a new program)."""
    if currency is None:
        currency = (await get_program()).currency_code
    rows = await Tier.all().order_by("minimum_spend_minor")
    if not rows:
        scale = 10 ** minor_units(currency)
        try:
            async with in_transaction():
                await Tier.bulk_create(
                    [
                        Tier(
                            code=code, name=name, multiplier=mult, minimum_spend_minor=spend * scale
                        )
                        for code, name, mult, spend in DEFAULT_TIERS
                    ]
                )
        except IntegrityError:  # made at the same moment by another request
            pass
        rows = await Tier.all().order_by("minimum_spend_minor")
    return [_tier_info(row, currency) for row in rows]


def tier_for_spend(tiers: Sequence[TierInfo], spend_minor: int) -> tuple[TierInfo, TierInfo | None]:
    """The tier a spend reaches and the one after it."""
    current, following = tiers[0], None
    for i, tier in enumerate(tiers):
        if spend_minor >= tier.minimum_spend.minor:
            current = tier
            following = tiers[i + 1] if i + 1 < len(tiers) else None
    return current, following


async def spend_by_customer(customer_ids: Iterable[int], *, now: datetime) -> dict[int, int]:
    """What each customer spent (net of refunds) in the last 365 days, in minor units."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    # Only the table name and placeholders are formatted in; values are parameters.
    rows = await sql.fetch(
        "SELECT customer_id, SUM(total_minor - refunded_minor) AS spend "  # noqa: S608
        f"FROM {Purchase._meta.db_table} "
        f"WHERE customer_id IN ({sql.marks(len(ids))}) AND occurred_at >= ? "
        "GROUP BY customer_id",
        [*ids, now - TIER_WINDOW],
    )
    return {int(row["customer_id"]): int(row["spend"] or 0) for row in rows}


async def customer_tier(*, customer_id: int) -> CustomerTier:
    program = await get_program()
    tiers = await list_tiers(currency=program.currency_code)
    spend = (await spend_by_customer([customer_id], now=clock.now())).get(customer_id, 0)
    tier, following = tier_for_spend(tiers, spend)
    currency = program.currency_code
    return CustomerTier(
        tier=tier,
        next_tier=following,
        spend=Money.from_minor(spend, currency),
        spend_to_next_tier=(
            Money.from_minor(following.minimum_spend.minor - spend, currency) if following else None
        ),
    )


_TIER_CODE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


async def update_tiers(*, tiers: Sequence[TierSpec]) -> list[TierInfo]:
    """Replace the program's tiers. One of them starts at zero spend; multipliers are
    above 0 (at most 10, 3 decimals); codes are unique upper-case words."""
    program = await get_program()
    currency = program.currency_code
    errors: list[DomainError] = []
    rows: list[Tier] = []
    if not 1 <= len(tiers) <= 10:
        raise InvalidInput("Between 1 and 10 tiers.", field=["tiers"])
    codes: set[str] = set()
    spends: set[int] = set()
    for i, spec in enumerate(tiers):
        path = ["tiers", str(i)]
        code = spec.code.strip().upper()
        if not code or len(code) > 32 or not set(code) <= _TIER_CODE_CHARS or code in codes:
            errors.append(
                InvalidInput("A unique code of letters, digits and _.", field=[*path, "code"])
            )
        codes.add(code)
        try:
            name = clean_text(spec.name, field=[*path, "name"], max_length=60)
        except DomainError as error:
            errors.append(error)
            name = ""
        try:
            multiplier = Decimal(spec.multiplier)
            valid = (
                multiplier.is_finite()
                and Decimal(0) < multiplier <= Decimal(10)
                and multiplier == multiplier.quantize(Decimal("0.001"))
            )
        except (InvalidOperation, TypeError, ValueError):
            valid, multiplier = False, Decimal(0)
        if not valid:
            errors.append(
                InvalidInput(
                    "A multiplier above 0, at most 10, with at most 3 decimals.",
                    field=[*path, "cashbackMultiplier"],
                )
            )
        spend = 0
        try:
            spend = parse_money(
                spec.minimum_spend_amount,
                spec.minimum_spend_currency,
                program_currency=currency,
                field=[*path, "minimumSpend"],
            ).minor
            if spend in spends:
                raise InvalidInput(
                    "Two tiers start at the same spend.", field=[*path, "minimumSpend"]
                )
            spends.add(spend)
        except DomainError as error:
            errors.append(error)
        rows.append(Tier(code=code, name=name, multiplier=multiplier, minimum_spend_minor=spend))
    if not errors and 0 not in spends:
        errors.append(InvalidInput("One tier must start at zero spend.", field=["tiers"]))
    if errors:
        raise DomainErrors(errors)
    async with in_transaction():
        await Tier.all().delete()
        await Tier.bulk_create(rows)
    return await list_tiers(currency=currency)


# --- cashback rules --------------------------------------------------------------------


def _channels_text(channels: Sequence[Channel] | None) -> str | None:
    if not channels:
        return None
    chosen = {Channel(c) for c in channels}
    if chosen == set(Channel):
        return None
    return ",".join(c.value for c in Channel if c in chosen)


def rule_channels(rule: CashbackRule) -> list[Channel] | None:
    return [Channel(c) for c in rule.channels.split(",")] if rule.channels else None


async def create_rule(
    *,
    name: str,
    percent: Decimal,
    terms: str,
    merchant_id: str | None = None,
    category: str | None = None,
    channels: Sequence[Channel] | None = None,
    minimum_spend: tuple[Decimal, str] | None = None,
    max_cashback: tuple[Decimal, str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> CashbackRule:
    program = await get_program()
    currency = program.currency_code
    errors: list[DomainError] = []
    values: dict[str, Any] = {}

    def check(key: str, work: Any) -> None:
        try:
            values[key] = work()
        except DomainError as error:
            errors.append(error)

    check("name", lambda: clean_text(name, field=["input", "name"], max_length=120))
    check("percent", lambda: parse_percent(percent, field=["input", "percent"]))
    check("terms", lambda: clean_text(terms, field=["input", "terms"], max_length=10_000))
    if category is not None:
        check(
            "category",
            lambda: " ".join(
                clean_text(category, field=["input", "category"], max_length=80).split()
            ),
        )
    if minimum_spend is not None:
        check(
            "minimum_spend_minor",
            lambda: (
                parse_money(
                    *minimum_spend, program_currency=currency, field=["input", "minimumSpend"]
                ).minor
            ),
        )
    if max_cashback is not None:

        def cap() -> int:
            minor = parse_money(
                *max_cashback, program_currency=currency, field=["input", "maxCashbackPerPurchase"]
            ).minor
            if minor <= 0:
                raise InvalidAmount(
                    "The cap must be above zero.", field=["input", "maxCashbackPerPurchase"]
                )
            return minor

        check("max_cashback_minor", cap)
    start = as_utc(starts_at) if starts_at else None
    end = as_utc(ends_at) if ends_at else None
    if start and end and end <= start:
        errors.append(InvalidInput("endsAt must be after startsAt.", field=["input", "endsAt"]))
    if merchant_id is not None:
        try:
            pk = _decode(merchant_id, "Merchant", UnknownMerchant(field=["input", "merchantId"]))
            if await catalog.get_merchant(pk) is None:
                raise UnknownMerchant(field=["input", "merchantId"])
            values["merchant_id"] = pk
        except DomainError as error:
            errors.append(error)
    if errors:
        raise DomainErrors(errors)
    return await CashbackRule.create(
        **values,
        currency=currency,
        channels=_channels_text(channels),
        starts_at=start,
        ends_at=end,
        created_at=clock.now(),
    )


async def end_rule(*, rule_id: str) -> CashbackRule:
    pk = _decode(rule_id, "CashbackRule", NotFound("No rule has this id.", field=["id"]))
    rule = await CashbackRule.get_or_none(id=pk)
    if rule is None:
        raise NotFound("No rule has this id.", field=["id"])
    now = clock.now()
    if rule.active and (rule.ends_at is None or rule.ends_at > now):
        rule.ends_at = now
        await rule.save(update_fields=["ends_at"])
    return rule


async def list_rules(*, include_ended: bool = False) -> list[CashbackRule]:
    query = CashbackRule.filter(active=True)
    if not include_ended:
        query = query.filter(Q(ends_at=None) | Q(ends_at__gt=clock.now()))
    return await query.order_by("id")


async def get_rule(rule_id: int) -> CashbackRule | None:
    return await CashbackRule.get_or_none(id=rule_id)


def _rule_terms(rule: CashbackRule) -> RuleTerms:
    return RuleTerms(
        id=rule.id,
        name=rule.name,
        percent=Decimal(rule.percent),
        merchant_id=rule.merchant_id,
        category=normalize_category(rule.category),
        channels=frozenset(rule.channels.split(",")) if rule.channels else None,
        minimum_spend_minor=rule.minimum_spend_minor,
        max_cashback_minor=rule.max_cashback_minor,
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
    )


async def _rules_for_merchants(merchant_ids: Iterable[int]) -> list[RuleTerms]:
    """Active rules that may apply at these merchants (windows are checked per purchase)."""
    ids = sorted(set(merchant_ids))
    rows = await CashbackRule.filter(active=True).filter(
        Q(merchant_id=None) | Q(merchant_id__in=ids)
    )
    return [_rule_terms(row) for row in rows]


async def best_catalogue_percents(
    keys: Sequence[tuple[int, str, int]],
) -> list[Decimal]:
    """For (merchant, category, price) of products: the best percent a purchase of the
    product alone earns today, before the tier multiplier and offers."""
    merchant_ids = {k[0] for k in keys}
    merchants = {
        m.id: m for m in await catalog.merchants_by_ids(sorted(merchant_ids)) if m is not None
    }
    rules = await _rules_for_merchants(merchant_ids)
    now = clock.now()
    found = []
    for merchant_id, category, price in keys:
        merchant = merchants.get(merchant_id)
        best = Decimal(merchant.cashback_percent) if merchant else Decimal(0)
        wanted = normalize_category(category)
        for rule in rules:
            if (
                rule.in_window(now)
                and rule.merchant_id in (None, merchant_id)
                and rule.category in (None, wanted)
                and (rule.minimum_spend_minor or 0) <= price
            ):
                best = max(best, rule.percent)
        found.append(plain_decimal(best))
    return found


# --- recording purchases -------------------------------------------------------------


@dataclass
class _Item:
    sku: str
    name: str | None
    category: str | None
    quantity: int
    unit_price_minor: int


@dataclass
class _Checked:
    """A purchase's input checked on its own; store and customer are looked up next."""

    store_id: int | None
    external_id: str
    customer: CustomerRef | None
    total_minor: int
    credits_used_minor: int
    occurred_at: datetime
    items: list[_Item] | None
    path: list[str]
    errors: list[DomainError]
    customer_id: int | None = None
    store: StoreInfo | None = None


def _customer_field(path: Sequence[str], ref: CustomerRef) -> list[str]:
    if ref.member_code is not None:
        return [*path, "customer", "memberCode"]
    if ref.email is not None:
        return [*path, "customer", "email"]
    return [*path, "customer", "customerId"]


def _check_input(
    purchase: PurchaseInput,
    *,
    currency: str,
    now: datetime,
    path: list[str],
    needs_customer: bool = True,
    max_total: Money | None = None,
) -> _Checked:
    """The input checked on its own (no database): every problem found, with its path."""
    errors: list[DomainError] = []
    store_id: int | None = None
    try:
        store_id = _decode(purchase.store_id, "Store", UnknownStore(field=[*path, "storeId"]))
    except DomainError as error:
        errors.append(error)
    external_id = (purchase.external_id or "").strip()
    if not external_id or len(external_id) > 128:
        errors.append(
            InvalidInput("1 to 128 characters.", field=[*path, "externalId"]),
        )
    ref = purchase.customer
    if ref is not None:
        given = [v for v in (ref.member_code, ref.email, ref.customer_id) if v is not None]
        if len(given) != 1 or not given[0].strip():
            errors.append(
                InvalidInput(
                    "Name the customer by exactly one of memberCode, email or customerId.",
                    field=[*path, "customer"],
                )
            )
            ref = None
    elif needs_customer:
        errors.append(InvalidInput("The customer is required.", field=[*path, "customer"]))
    total = None
    try:
        paid = parse_money(
            purchase.total_amount,
            purchase.total_currency,
            program_currency=currency,
            field=[*path, "total"],
        ).minor
        if max_total is not None and paid > max_total.minor:
            raise InvalidAmount(f"A purchase total is at most {max_total}.", field=[*path, "total"])
        total = paid
    except DomainError as error:
        errors.append(error)
    occurred_at = as_utc(purchase.occurred_at)
    if occurred_at > now + FUTURE_TOLERANCE:
        errors.append(OccurredInFuture(field=[*path, "occurredAt"]))
    credits = 0
    if purchase.credits_used_amount is not None:
        try:
            credits = parse_money(
                purchase.credits_used_amount,
                purchase.credits_used_currency or "",
                program_currency=currency,
                field=[*path, "creditsUsed"],
            ).minor
            if total is not None and credits > total:
                raise InvalidAmount(
                    "Credits used cannot exceed the total.", field=[*path, "creditsUsed"]
                )
        except DomainError as error:
            errors.append(error)
    items = None
    if purchase.items is not None:
        items = []
        if len(purchase.items) > MAX_ITEMS_PER_PURCHASE:
            errors.append(
                TooManyItems(
                    f"At most {MAX_ITEMS_PER_PURCHASE} items per purchase.", field=[*path, "items"]
                )
            )
        items_ok = True
        for i, item in enumerate(purchase.items[:MAX_ITEMS_PER_PURCHASE]):
            item_path = [*path, "items", str(i)]
            try:
                sku = clean_text(item.sku, field=[*item_path, "sku"], max_length=64)
            except DomainError as error:
                errors.append(error)
                items_ok, sku = False, ""
            if not 1 <= item.quantity <= 1_000_000:
                errors.append(
                    InvalidInput("Between 1 and 1,000,000.", field=[*item_path, "quantity"])
                )
                items_ok = False
            unit = 0
            try:
                unit = parse_money(
                    item.unit_price_amount,
                    item.unit_price_currency,
                    program_currency=currency,
                    field=[*item_path, "unitPrice"],
                ).minor
            except DomainError as error:
                errors.append(error)
                items_ok = False
            name = " ".join((item.name or "").split())[:200] or None
            category = " ".join((item.category or "").split())[:80] or None
            items.append(_Item(sku, name, category, item.quantity, unit))
        if items_ok and total is not None and items:
            lines = sum(i.quantity * i.unit_price_minor for i in items)
            # Each line may carry a rounding of its own: one minor unit a line is allowed.
            if abs(lines - total) > len(items):
                errors.append(
                    ItemsTotalMismatch(
                        f"The items add up to {Money.from_minor(lines, currency)}, "
                        f"not {Money.from_minor(total, currency)}.",
                        field=[*path, "items"],
                    )
                )
    return _Checked(
        store_id=store_id,
        external_id=external_id,
        customer=ref,
        total_minor=total or 0,
        credits_used_minor=credits,
        occurred_at=occurred_at,
        items=items,
        path=path,
        errors=errors,
    )


async def _resolve_customers(refs: Iterable[CustomerRef]) -> dict[CustomerRef, int | None]:
    """The active customer each reference names (None for none), found by accounts in one
    query per kind of reference in the batch."""
    wanted = set(refs)
    pks = {ref: _customer_pk(ref.customer_id) for ref in wanted if ref.customer_id is not None}
    found = await accounts.find_customers(
        member_codes=[ref.member_code for ref in wanted if ref.member_code is not None],
        emails=[ref.email for ref in wanted if ref.email is not None],
        ids=[pk for pk in pks.values() if pk is not None],
    )
    resolved: dict[CustomerRef, int | None] = {}
    for ref in wanted:
        if ref.member_code is not None:
            resolved[ref] = found.by_member_code.get(ref.member_code)
        elif ref.email is not None:
            resolved[ref] = found.by_email.get(ref.email)
        else:
            pk = pks.get(ref)
            resolved[ref] = pk if pk in found.ids else None
    return resolved


def _customer_pk(customer_id: str) -> int | None:
    try:
        return decode_id(customer_id.strip(), "Customer")
    except NotFound:
        return None


@dataclass
class _Context:
    """What a batch of purchases shares, each part read once, when first needed."""

    program: Program
    now: datetime
    stores: dict[int, StoreInfo] = field(default_factory=dict)
    rules: list[RuleTerms] | None = None
    tiers: list[TierInfo] | None = None
    spend: dict[int, int] | None = None
    categories: dict[tuple[int, str], str] = field(default_factory=dict)
    redeemed: dict[tuple[int, str], int] = field(default_factory=dict)

    async def prepare_earning(self, rows: Sequence[_Checked]) -> None:
        """Rules, tiers, spends, catalogue categories and captured redemptions for `rows`."""
        if not rows:
            return
        merchants = {r.store.merchant_id for r in rows if r.store}
        self.rules = await _rules_for_merchants(merchants)
        self.tiers = await list_tiers(currency=self.program.currency_code)
        self.spend = await spend_by_customer(
            (r.customer_id for r in rows if r.customer_id is not None), now=self.now
        )
        wanted: dict[int, set[str]] = {}
        for r in rows:
            for item in r.items or []:
                if item.category is None and r.store:
                    wanted.setdefault(r.store.merchant_id, set()).add(item.sku)
        for merchant_id, skus in wanted.items():
            for sku, category in (await catalog.categories_by_sku(merchant_id, skus)).items():
                self.categories[(merchant_id, sku)] = category
        self.redeemed = await redemptions_seam.redeemed_for_orders(
            (r.store_id, r.external_id) for r in rows
        )

    async def earning_for(self, row: _Checked) -> tuple[Earning, TierInfo]:
        assert row.store and self.rules is not None and self.tiers is not None
        assert self.spend is not None
        store = row.store
        spend = self.spend.get(row.customer_id, 0) if row.customer_id is not None else 0
        tier, _ = tier_for_spend(self.tiers, spend)
        lines = None
        if row.items:
            lines = [
                Line(
                    amount_minor=item.quantity * item.unit_price_minor,
                    category=normalize_category(
                        item.category or self.categories.get((store.merchant_id, item.sku))
                    ),
                    sku=item.sku,
                )
                for item in row.items
            ]
        facts = PurchaseFacts(
            merchant_id=store.merchant_id,
            merchant_name=store.merchant_name,
            merchant_percent=store.merchant_percent,
            channel=store.channel.value,
            occurred_at=row.occurred_at,
            total_minor=row.total_minor,
            credits_used_minor=row.credits_used_minor,
            redeemed_minor=min(
                self.redeemed.get((row.store_id, row.external_id), 0),
                max(0, row.total_minor - row.credits_used_minor),
            ),
            lines=lines,
        )
        offers = await offers_seam.eligible_offers(
            customer_id=row.customer_id,
            merchant_id=store.merchant_id,
            channel=store.channel.value,
            occurred_at=row.occurred_at,
        )
        return compute_cashback(facts, rules=self.rules, tier=tier.terms, offers=offers), tier

    def counted(self, purchase: Purchase) -> None:
        """A purchase just recorded counts towards its customer's tier for the next ones."""
        if self.spend is not None and purchase.occurred_at >= self.now - TIER_WINDOW:
            self.spend[purchase.customer_id] = (
                self.spend.get(purchase.customer_id, 0) + purchase.total_minor
            )


def _mismatch(existing: Purchase, row: _Checked) -> DomainError | None:
    """Why a repeat of (store, externalId) is not the purchase already recorded, if it is not."""
    if existing.total_minor != row.total_minor:
        return DuplicatePurchaseMismatch(
            "This externalId was already recorded at this store with another total.",
            field=[*row.path, "total"],
        )
    if existing.customer_id != row.customer_id:
        return DuplicatePurchaseMismatch(
            "This externalId was already recorded at this store for another customer.",
            field=[*row.path, "customer"],
        )
    if existing.credits_used_minor != row.credits_used_minor:
        return DuplicatePurchaseMismatch(
            "This externalId was already recorded at this store with other credits used.",
            field=[*row.path, "creditsUsed"],
        )
    return None


async def _look_up(
    rows: Sequence[_Checked], context: _Context, merchant_scope: int | None
) -> list[_Checked | DomainErrors]:
    """Stores and customers of the rows; a row with any problem becomes its errors."""
    context.stores = await catalog.store_infos(r.store_id for r in rows if r.store_id is not None)
    customers = await _resolve_customers(r.customer for r in rows if r.customer is not None)
    looked_up: list[_Checked | DomainErrors] = []
    for r in rows:
        errors = list(r.errors)
        if r.store_id is not None:
            r.store = context.stores.get(r.store_id)
            if r.store is None:
                errors.append(UnknownStore(field=[*r.path, "storeId"]))
            else:
                try:
                    catalog.check_store_scope(r.store, merchant_scope, field=[*r.path, "storeId"])
                except DomainError as error:
                    errors.append(error)
        if r.customer is not None:
            r.customer_id = customers[r.customer]
            if r.customer_id is None:
                errors.append(UnknownCustomer(field=_customer_field(r.path, r.customer)))
        looked_up.append(DomainErrors(errors) if errors else r)
    return looked_up


async def _existing_purchases(rows: Sequence[_Checked]) -> dict[tuple[int, str], Purchase]:
    if not rows:
        return {}
    stores = {r.store_id for r in rows}
    external_ids = {r.external_id for r in rows}
    found = await Purchase.filter(store_id__in=stores, external_id__in=external_ids)
    return {(p.store_id, p.external_id): p for p in found}


def _explanation_json(parts: Sequence[Part]) -> list[dict[str, object]]:
    return [part.as_json() for part in parts]


async def _insert_purchase(
    row: _Checked, earned: Earning, tier: TierInfo, context: _Context
) -> Purchase:
    """The purchase, its items and the credit of its cashback, in one transaction."""
    assert row.store and row.customer_id is not None
    store, program = row.store, context.program
    available_at, expires_at = cashback_dates(
        occurred_at=row.occurred_at, program=program, now=context.now
    )
    has_cashback = earned.amount_minor > 0
    explanation = _explanation_json(earned.parts)
    values: list[Any] = [
        store.id,
        store.merchant_id,
        row.customer_id,
        row.external_id,
        store.channel.value,
        program.currency_code,
        row.total_minor,
        row.credits_used_minor,
        earned_redeemed(row, earned),
        0,
        earned.amount_minor,
        0,
        available_at if has_cashback else None,
        expires_at if has_cashback else None,
        json.dumps(explanation, separators=(",", ":")),
        earned.reason.value if earned.reason else None,
        tier.code,
        program.terms_version,
        PurchaseStatus.COMPLETED.value,
        row.occurred_at,
        context.now,
    ]
    items = [
        (
            item.sku,
            item.name,
            item.category or context.categories.get((store.merchant_id, item.sku)),
            item.quantity,
            item.unit_price_minor,
        )
        for item in row.items or []
    ]
    async with in_transaction():
        if sql.is_postgres():
            # One statement of constant text (prepared once per connection), the items as
            # arrays, however many there are.
            columns = [list(column) for column in zip(*items, strict=True)] or [[]] * 5
            [inserted] = await sql.fetch(_INSERT_PURCHASE_AND_ITEMS_PG, [*values, *columns])
        else:
            [inserted] = await sql.fetch(_INSERT_PURCHASE, values)
            if items:
                marks = ", ".join([f"({sql.marks(len(_ITEM_COLUMNS))})"] * len(items))
                flat = [v for item in items for v in (inserted["id"], *item)]
                await sql.fetch(f"{_INSERT_ITEMS} VALUES {marks}", flat)
        purchase_id = int(inserted["id"])
        if has_cashback:
            await ledger.credit(
                customer_id=row.customer_id,
                currency=program.currency_code,
                amount=earned.amount_minor,
                kind=CASHBACK,
                occurred_at=row.occurred_at,
                available_at=available_at,
                expires_at=expires_at,
                source_type=SOURCE_PURCHASE,
                source_id=purchase_id,
                merchant_id=store.merchant_id,
                description=f"Cashback at {store.merchant_name}",
                details={"explanation": explanation, "external_id": row.external_id},
                terms_version=program.terms_version,
                idempotency_key=f"purchase:{purchase_id}",
            )
        if earned.offer_ids:
            await offers_seam.record_offer_use(
                purchase_id=purchase_id,
                customer_id=row.customer_id,
                offer_ids=earned.offer_ids,
                amounts={
                    int(p.source.split(":")[1]): p.amount_minor
                    for p in earned.parts
                    if p.source.startswith("offer:")
                },
            )
    # The row as it was written, without reading it back.
    return Purchase._init_from_db(
        id=purchase_id, **dict(zip(_PURCHASE_COLUMNS, values, strict=True))
    )


_PURCHASE_COLUMNS = (
    "store_id",
    "merchant_id",
    "customer_id",
    "external_id",
    "channel",
    "currency",
    "total_minor",
    "credits_used_minor",
    "redeemed_minor",
    "refunded_minor",
    "cashback_minor",
    "cashback_reversed_minor",
    "cashback_available_at",
    "cashback_expires_at",
    "explanation",
    "no_cashback_reason",
    "tier_code",
    "terms_version",
    "status",
    "occurred_at",
    "created_at",
)
_ITEM_COLUMNS = ("purchase_id", "sku", "name", "category", "quantity", "unit_price_minor")
# Only names and placeholders are formatted into these; values are parameters.
_INSERT_ITEMS = f"INSERT INTO {PurchaseItem._meta.db_table} ({', '.join(_ITEM_COLUMNS)})"
_INSERT_PURCHASE = (
    f"INSERT INTO {Purchase._meta.db_table} ({', '.join(_PURCHASE_COLUMNS)}) "  # noqa: S608
    f"VALUES ({sql.marks(len(_PURCHASE_COLUMNS))}) RETURNING id"
)


_INSERT_PURCHASE_AND_ITEMS_PG = (
    f"WITH p AS ({_INSERT_PURCHASE}), i AS ({_INSERT_ITEMS} "  # noqa: S608
    f"SELECT p.id, v.* FROM p, unnest(${len(_PURCHASE_COLUMNS) + 1}::varchar[], "
    f"${len(_PURCHASE_COLUMNS) + 2}::varchar[], ${len(_PURCHASE_COLUMNS) + 3}::varchar[], "
    f"${len(_PURCHASE_COLUMNS) + 4}::int[], ${len(_PURCHASE_COLUMNS) + 5}::bigint[]) AS v) "
    "SELECT id FROM p"
)


def earned_redeemed(row: _Checked, earned: Earning) -> int:
    """What of the purchase was paid with a redemption captured for it."""
    return max(0, row.total_minor - row.credits_used_minor - earned.paid_minor)


async def record_purchases(
    purchases: Sequence[PurchaseInput],
    *,
    merchant_scope: int | None,
    path: Sequence[str] = ("inputs",),
) -> list[Outcome]:
    """Record each purchase on its own (one bad one loses nothing else), in order.

    A repeat of (store, externalId) returns the purchase already recorded and credits
    nothing; a repeat with another total, customer or credits used is refused
    (DUPLICATE_PURCHASE_MISMATCH). `merchant_scope` is the merchant a partner is bound to.
    """
    if len(purchases) > MAX_PURCHASES_PER_BATCH:
        raise TooManyItems(
            f"At most {MAX_PURCHASES_PER_BATCH} purchases per request.", field=list(path)
        )
    program = await get_program()
    now = clock.now()
    context = _Context(program=program, now=now)
    batch = tuple(path) == ("inputs",)
    checked = [
        _check_input(
            purchase,
            currency=program.currency_code,
            now=now,
            path=[*path, str(i)] if batch else list(path),
            max_total=program.max_purchase_total,
        )
        for i, purchase in enumerate(purchases)
    ]
    rows = await _look_up(checked, context, merchant_scope)
    valid = [r for r in rows if isinstance(r, _Checked)]
    existing = await _existing_purchases(valid)
    await context.prepare_earning([r for r in valid if (r.store_id, r.external_id) not in existing])

    outcomes: list[Outcome | None] = [None] * len(rows)

    async def settle(index: int) -> None:
        row = rows[index]
        if isinstance(row, DomainErrors):
            outcomes[index] = Outcome(error=row)
            return
        key = (row.store_id, row.external_id)
        if key in existing:
            outcomes[index] = _repeat(existing[key], row)
            return
        if context.rules is None:  # every row was a repeat when the batch began
            await context.prepare_earning([row])
        earned, tier = await context.earning_for(row)
        try:
            purchase = await retrying(lambda: _insert_purchase(row, earned, tier, context))
        except IntegrityError:
            # Recorded at the same moment by another request: that one counts.
            found = await Purchase.get_or_none(store_id=row.store_id, external_id=row.external_id)
            if found is None:
                raise
            existing[key] = found
            outcomes[index] = _repeat(found, row)
            return
        except (DomainError, DomainErrors) as error:
            outcomes[index] = Outcome(error=error)
            return
        existing[key] = purchase
        context.counted(purchase)
        outcomes[index] = Outcome(purchase=purchase, created=True)

    async def settle_in_order(indexes: list[int]) -> None:
        for index in indexes:
            await settle(index)

    lanes = _lanes(rows)
    if len(lanes) == 1:
        await settle_in_order(lanes[0])
    else:
        # Each customer's purchases in order on one lane (their tier grows with each one);
        # a few lanes at once, so a batch does not wait on one connection's round trips.
        gate = asyncio.Semaphore(BATCH_LANES)

        async def lane(indexes: list[int]) -> None:
            async with gate:
                await settle_in_order(indexes)

        await asyncio.gather(*(lane(indexes) for indexes in lanes))
    return [o for o in outcomes if o is not None]


def _lanes(rows: Sequence[_Checked | DomainErrors]) -> list[list[int]]:
    """Row indexes grouped by customer, in order. One group (the whole batch in order) when
    the same (store, externalId) appears for two customers: the first one must win."""
    by_customer: dict[int | None, list[int]] = {}
    owner: dict[tuple[int | None, str], int | None] = {}
    for index, row in enumerate(rows):
        if isinstance(row, DomainErrors):
            customer = None
        else:
            customer = row.customer_id
            key = (row.store_id, row.external_id)
            if owner.setdefault(key, customer) != customer:
                return [list(range(len(rows)))]
        by_customer.setdefault(customer, []).append(index)
    return list(by_customer.values()) or [[]]


def _repeat(existing: Purchase, row: _Checked) -> Outcome:
    mismatch = _mismatch(existing, row)
    if mismatch is not None:
        return Outcome(error=mismatch)
    return Outcome(purchase=existing, created=False)


async def record_purchase(*, purchase: PurchaseInput, merchant_scope: int | None) -> Purchase:
    """Record one purchase and credit its cashback (or return the one already recorded)."""
    [outcome] = await record_purchases([purchase], merchant_scope=merchant_scope, path=["input"])
    if outcome.error is not None:
        raise outcome.error
    assert outcome.purchase is not None
    return outcome.purchase


# --- preview ---------------------------------------------------------------------------


async def preview_cashback(
    *,
    caller: Principal,
    store_id: str,
    total_amount: Decimal,
    total_currency: str,
    customer: CustomerRef | None = None,
    items: Sequence[ItemInput] | None = None,
) -> Preview:
    """Exactly what recording this purchase now would credit, writing nothing. A customer
    previews for themselves; a partner or an admin for the customer named (or for a customer
    of the first tier when none is named)."""
    program = await get_program()
    now = clock.now()
    context = _Context(program=program, now=now)
    as_customer = caller.is_customer
    request = PurchaseInput(
        store_id=store_id,
        external_id="preview",
        customer=None if as_customer else customer,
        total_amount=total_amount,
        total_currency=total_currency,
        occurred_at=now,
        items=items,
    )
    row = _check_input(
        request,
        currency=program.currency_code,
        now=now,
        path=[],
        needs_customer=False,
        max_total=program.max_purchase_total,
    )
    scope = caller.merchant_id if caller.is_partner else None
    [looked_up] = await _look_up([row], context, scope)
    if isinstance(looked_up, DomainErrors):
        # A query answers one top-level error: the first problem found.
        raise looked_up.errors[0]
    if as_customer:
        looked_up.customer_id = caller.subject_id
    await context.prepare_earning([looked_up])
    context.redeemed = {}
    earned, tier = await context.earning_for(looked_up)
    available_at, expires_at = cashback_dates(occurred_at=now, program=program, now=now)
    has = earned.amount_minor > 0
    return Preview(
        earning=earned,
        currency=program.currency_code,
        tier=tier,
        available_at=available_at if has else None,
        expires_at=expires_at if has else None,
    )


# --- refunds ---------------------------------------------------------------------------


def _status(purchase: Purchase) -> PurchaseStatus:
    if purchase.refunded_minor == 0:
        return PurchaseStatus.COMPLETED
    if purchase.refunded_minor < purchase.total_minor:
        return PurchaseStatus.PARTIALLY_REFUNDED
    return PurchaseStatus.REFUNDED


def cashback_kept(purchase: Purchase, refunded_minor: int) -> int:
    """The cashback a purchase keeps once `refunded_minor` of it is refunded: its share of
    what was not returned, rounded down (cashback is never rounded up)."""
    if purchase.total_minor == 0:
        return 0
    kept = purchase.total_minor - refunded_minor
    return purchase.cashback_minor * kept // purchase.total_minor


async def refund_purchase(
    *,
    store_id: str,
    external_id: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
    reason: str | None,
    merchant_scope: int | None,
) -> Purchase:
    """Refund part or all of a purchase and take back that share of its cashback: from
    what is still pending first, then from available credit; what was already spent is
    recorded as a clawback by the ledger. The same key never refunds twice."""
    program = await get_program()
    errors: list[DomainError] = []
    amount_minor = 0
    try:
        amount_minor = parse_money(
            amount, currency, program_currency=program.currency_code, field=["input", "amount"]
        ).minor
        if amount_minor <= 0:
            raise InvalidAmount("A refund is above zero.", field=["input", "amount"])
        if amount_minor > program.max_purchase_total.minor:
            raise InvalidAmount(
                f"A refund is at most {program.max_purchase_total}.", field=["input", "amount"]
            )
    except DomainError as error:
        errors.append(error)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 128:
        errors.append(InvalidInput("1 to 128 characters.", field=["input", "idempotencyKey"]))
    note = (reason or "").strip()[:500] or None
    store: StoreInfo | None = None
    try:
        store = await catalog.store_in_scope(store_id, merchant_scope)
    except DomainError as error:
        errors.append(error)
    if errors:
        raise DomainErrors(errors)
    assert store is not None
    reference = external_id.strip()
    purchase = (
        await Purchase.get_or_none(store_id=store.id, external_id=reference)
        if fits_column(Purchase, "external_id", reference)
        else None
    )
    if purchase is None:
        raise UnknownPurchase(field=["input", "externalId"])
    try:
        return await retrying(
            lambda: _refund(purchase.id, store, key, amount_minor, note)  # type: ignore[union-attr]
        )
    except IntegrityError:
        # The same key at the same moment, from another request: that one counts.
        first = await Refund.get_or_none(store_id=store.id, idempotency_key=key)
        if first is None:
            raise
        if first.purchase_id != purchase.id or first.amount_minor != amount_minor:
            raise IdempotencyKeyReused(field=["input", "idempotencyKey"]) from None
        return await Purchase.get(id=purchase.id)


async def _refund(
    purchase_id: int, store: StoreInfo, key: str, amount_minor: int, reason: str | None
) -> Purchase:
    async with in_transaction():
        purchase = await Purchase.select_for_update().get(id=purchase_id)
        first = await Refund.get_or_none(store_id=store.id, idempotency_key=key)
        if first is not None:
            if first.purchase_id != purchase.id or first.amount_minor != amount_minor:
                raise IdempotencyKeyReused(field=["input", "idempotencyKey"])
            return purchase
        left = purchase.total_minor - purchase.refunded_minor
        if amount_minor > left:
            raise RefundExceedsPurchase(
                f"At most {Money.from_minor(left, purchase.currency)} is left to refund.",
                field=["input", "amount"],
            )
        refunded = purchase.refunded_minor + amount_minor
        take = (purchase.cashback_minor - cashback_kept(purchase, refunded)) - (
            purchase.cashback_reversed_minor
        )
        refund = await Refund.create(
            purchase_id=purchase.id,
            store_id=store.id,
            idempotency_key=key,
            amount_minor=amount_minor,
            reason=reason,
            cashback_taken_minor=take,
            created_at=clock.now(),
        )
        if take > 0:
            taken = await ledger.take_back(
                customer_id=purchase.customer_id,
                currency=purchase.currency,
                source_type=SOURCE_PURCHASE,
                source_id=purchase.id,
                amount=take,
                description=f"Refund at {store.merchant_name}",
                idempotency_key=f"refund:{refund.id}",
            )
            refund.from_pending_minor = taken.from_pending
            refund.from_available_minor = taken.from_available
            refund.clawback_minor = taken.clawback
            await refund.save(
                update_fields=["from_pending_minor", "from_available_minor", "clawback_minor"]
            )
        purchase.refunded_minor = refunded
        purchase.cashback_reversed_minor += take
        purchase.status = _status(purchase)
        await purchase.save(update_fields=["refunded_minor", "cashback_reversed_minor", "status"])
    return purchase


# --- reading purchases and activity --------------------------------------------------


async def purchase_by_external_id(
    *, store_id: str, external_id: str, merchant_scope: int | None
) -> Purchase | None:
    store = await catalog.store_in_scope(store_id, merchant_scope)
    reference = external_id.strip()
    if not fits_column(Purchase, "external_id", reference):
        return None
    return await Purchase.get_or_none(store_id=store.id, external_id=reference)


async def get_purchase(purchase_id: int) -> Purchase | None:
    return await Purchase.get_or_none(id=purchase_id)


def may_see_purchase(caller: Principal | None, purchase: Purchase) -> bool:
    """Its customer, an admin, or a partner with a purchases scope bound to its merchant
    (or to no merchant)."""
    if caller is None:
        return False
    if caller.is_customer:
        return purchase.customer_id == caller.subject_id
    if caller.is_partner:
        return bool(caller.scopes & PARTNER_PURCHASE_SCOPES) and caller.merchant_id in (
            None,
            purchase.merchant_id,
        )
    return caller.is_admin


async def list_purchases(*, customer_id: int, first: int, after: str | None) -> Page[Purchase]:
    return await keyset_page(
        Purchase.filter(customer_id=customer_id),
        first=first,
        after=after,
        order_by=("-occurred_at", "-id"),
    )


async def items_of_purchases(purchase_ids: Sequence[int]) -> list[list[PurchaseItem]]:
    found: dict[int, list[PurchaseItem]] = {i: [] for i in purchase_ids}
    for item in await PurchaseItem.filter(purchase_id__in=set(purchase_ids)).order_by("id"):
        found[item.purchase_id].append(item)
    return [found[i] for i in purchase_ids]


async def purchases_of_customer(keys: Sequence[tuple[int, int]]) -> list[Purchase | None]:
    """Purchases by (customer, purchase id): None for one of another customer."""
    ids = {pk for _, pk in keys}
    rows = {p.id: p for p in await Purchase.filter(id__in=ids)}
    found = []
    for customer_id, pk in keys:
        row = rows.get(pk)
        found.append(row if row is not None and row.customer_id == customer_id else None)
    return found


async def activity(*, customer_id: int, first: int, after: str | None) -> Page[ledger.Entry]:
    return await ledger.list_entries(customer_id=customer_id, first=first, after=after)


def cashback_status(purchase: Purchase, now: datetime) -> str:
    """NONE (nothing earned), REVERSED (all taken back), PENDING or AVAILABLE."""
    if purchase.cashback_minor == 0:
        return "NONE"
    if purchase.cashback_reversed_minor >= purchase.cashback_minor:
        return "REVERSED"
    if purchase.cashback_available_at is not None and now < purchase.cashback_available_at:
        return "PENDING"
    return "AVAILABLE"


def explanation_parts(data: Any) -> list[Part]:
    if not isinstance(data, list):
        return []
    return [Part.from_json(p) for p in data if isinstance(p, dict)]
