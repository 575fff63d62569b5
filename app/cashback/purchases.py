"""Recording purchases: each input checked on its own, a batch's stores, customers,
rules, tiers and redemptions read once, then each purchase inserted with its items and
the credit of its cashback in one transaction.

Money moves only through app.ledger: a purchase and the credit of its cashback commit
together.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import db, ledger
from app.accounts import erasure as accounts_erasure
from app.accounts import service as accounts
from app.cashback import offers_seam
from app.cashback.earning import Earning, Line, Part, PurchaseFacts, RuleTerms, compute_cashback
from app.cashback.errors import (
    CustomerDeleted,
    DuplicatePurchaseMismatch,
    ItemsTotalMismatch,
    OccurredInFuture,
    UnknownCustomer,
)
from app.cashback.models import Purchase, PurchaseItem, PurchaseStatus
from app.cashback.profiles import spend_by_category
from app.cashback.rules import rules_for_merchants
from app.cashback.spend import count_purchase, counts_at, window_spends
from app.cashback.tiers import TierInfo, list_tiers, tier_for_spend
from app.catalog import service as catalog
from app.catalog.errors import UnknownStore
from app.catalog.service import StoreInfo, clean_text, normalize_category
from app.core import clock
from app.core.errors import (
    DomainError,
    DomainErrors,
    InputErrors,
    InvalidAmount,
    InvalidInput,
    NotFound,
    TooManyItems,
)
from app.core.ids import decode_id
from app.core.money import Money, parse_money
from app.db import retrying
from app.notifications import triggers as notifications
from app.program.service import Program, get_program
from app.redemptions import service as redemptions
from app.segments import service as segments
from app.suggestions import statistics as co_purchases

MAX_PURCHASES_PER_BATCH = 500
# Purchases of a batch recorded at once (each on its own connection and transaction).
BATCH_LANES = 4
MAX_ITEMS_PER_PURCHASE = 500
# Clocks of points of sale drift: an occurredAt up to this far ahead is accepted.
FUTURE_TOLERANCE = timedelta(minutes=10)
SOURCE_PURCHASE = "purchase"
CASHBACK = "CASHBACK"


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


def cashback_dates(
    *, occurred_at: datetime, program: Program, now: datetime
) -> tuple[datetime, datetime]:
    """When new cashback becomes available and when it then expires."""
    available_at = occurred_at + timedelta(days=program.pending_days)
    if program.pending_days == 0:
        available_at = min(available_at, now)
    return available_at, available_at + timedelta(days=program.credit_validity_days)


@dataclass
class PurchaseLine:
    sku: str
    name: str | None
    category: str | None
    quantity: int
    unit_price_minor: int


@dataclass
class Checked:
    """A purchase's input checked on its own; store and customer are looked up next.
    `problems` are the row's own (a batch reports them per row)."""

    store_id: int | None
    external_id: str
    customer: CustomerRef | None
    total_minor: int
    credits_used_minor: int
    occurred_at: datetime
    items: list[PurchaseLine] | None
    path: list[str]
    problems: InputErrors
    customer_id: int | None = None
    store: StoreInfo | None = None

    @property
    def key(self) -> tuple[int, str]:
        """(store, externalId): what makes two reports the same purchase. Only a row whose
        store was found (after `look_up`) is asked for it."""
        assert self.store_id is not None, "a row without a store is refused before this"
        return (self.store_id, self.external_id)


def _customer_field(path: Sequence[str], ref: CustomerRef) -> list[str]:
    if ref.member_code is not None:
        return [*path, "customer", "memberCode"]
    if ref.email is not None:
        return [*path, "customer", "email"]
    return [*path, "customer", "customerId"]


def check_input(
    purchase: PurchaseInput,
    *,
    currency: str,
    now: datetime,
    path: list[str],
    needs_customer: bool = True,
    max_total: Money | None = None,
) -> Checked:
    """The input checked on its own (no database): every problem found, with its path."""
    problems = InputErrors()
    store_id: int | None = None
    with problems.catch():
        store_id = catalog.store_pk(purchase.store_id, field=[*path, "storeId"])
    external_id = (purchase.external_id or "").strip()
    if not external_id or len(external_id) > 128:
        problems.add(InvalidInput("1 to 128 characters.", field=[*path, "externalId"]))
    ref = _check_customer(purchase.customer, needs_customer, path, problems)
    total = None
    with problems.catch():
        paid = parse_money(
            purchase.total_amount,
            purchase.total_currency,
            program_currency=currency,
            field=[*path, "total"],
        ).minor
        if max_total is not None and paid > max_total.minor:
            raise InvalidAmount(f"A purchase total is at most {max_total}.", field=[*path, "total"])
        total = paid
    occurred_at = clock.as_utc(purchase.occurred_at)
    if occurred_at > now + FUTURE_TOLERANCE:
        problems.add(OccurredInFuture(field=[*path, "occurredAt"]))
    credits = 0
    if purchase.credits_used_amount is not None:
        with problems.catch():
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
    items = None
    if purchase.items is not None:
        items = _check_items(purchase.items, total, currency, path, problems)
    return Checked(
        store_id=store_id,
        external_id=external_id,
        customer=ref,
        total_minor=total or 0,
        credits_used_minor=credits,
        occurred_at=occurred_at,
        items=items,
        path=path,
        problems=problems,
    )


def _check_customer(
    ref: CustomerRef | None, needs_customer: bool, path: list[str], problems: InputErrors
) -> CustomerRef | None:
    """The customer reference when it names exactly one way; None (and a problem) if not."""
    if ref is None:
        if needs_customer:
            problems.add(InvalidInput("The customer is required.", field=[*path, "customer"]))
        return None
    given = [v for v in (ref.member_code, ref.email, ref.customer_id) if v is not None]
    if len(given) != 1 or not given[0].strip():
        problems.add(
            InvalidInput(
                "Name the customer by exactly one of memberCode, email or customerId.",
                field=[*path, "customer"],
            )
        )
        return None
    return ref


def _check_items(
    given: Sequence[ItemInput],
    total: int | None,
    currency: str,
    path: list[str],
    problems: InputErrors,
) -> list[PurchaseLine]:
    """The purchase's lines, each checked, and (when all are valid) their sum against the
    total."""
    if len(given) > MAX_ITEMS_PER_PURCHASE:
        problems.add(
            TooManyItems(
                f"At most {MAX_ITEMS_PER_PURCHASE} items per purchase.", field=[*path, "items"]
            )
        )
    before_items = len(problems.errors)
    items: list[PurchaseLine] = []
    for i, item in enumerate(given[:MAX_ITEMS_PER_PURCHASE]):
        item_path = [*path, "items", str(i)]
        sku = ""
        with problems.catch():
            sku = clean_text(item.sku, field=[*item_path, "sku"], max_length=64)
        if not 1 <= item.quantity <= 1_000_000:
            problems.add(InvalidInput("Between 1 and 1,000,000.", field=[*item_path, "quantity"]))
        unit = 0
        with problems.catch():
            unit = parse_money(
                item.unit_price_amount,
                item.unit_price_currency,
                program_currency=currency,
                field=[*item_path, "unitPrice"],
            ).minor
        name = " ".join((item.name or "").split())[:200] or None
        category = " ".join((item.category or "").split())[:80] or None
        items.append(PurchaseLine(sku, name, category, item.quantity, unit))
    items_ok = len(problems.errors) == before_items
    if items_ok and total is not None and items:
        lines = sum(i.quantity * i.unit_price_minor for i in items)
        # Each line may carry a rounding of its own: one minor unit a line is allowed.
        if abs(lines - total) > len(items):
            problems.add(
                ItemsTotalMismatch(
                    f"The items add up to {Money.from_minor(lines, currency)}, "
                    f"not {Money.from_minor(total, currency)}.",
                    field=[*path, "items"],
                )
            )
    return items


# What a reference by customerId resolves to when that customer deleted their account.
DELETED = -1


async def _resolve_customers(refs: Iterable[CustomerRef]) -> dict[CustomerRef, int | None]:
    """The active customer each reference names (None for none; DELETED for a customerId
    of a deleted account), found by accounts in one query per kind of reference in the
    batch (and one more only when some customerId names nobody active)."""
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
    missing = [pk for ref, pk in pks.items() if pk is not None and resolved[ref] is None]
    if missing:
        deleted = await accounts_erasure.deleted_customer_ids(missing)
        for ref, pk in pks.items():
            if pk in deleted:
                resolved[ref] = DELETED
    return resolved


def _customer_pk(customer_id: str) -> int | None:
    try:
        return decode_id(customer_id.strip(), "Customer")
    except NotFound:
        return None


@dataclass
class EarningContext:
    """What a batch of purchases shares, each part read once, when first needed."""

    program: Program
    now: datetime
    stores: dict[int, StoreInfo] = field(default_factory=dict)
    rules: list[RuleTerms] | None = None
    tiers: list[TierInfo] | None = None
    spend: dict[int, int] | None = None
    categories: dict[tuple[int, str], str] = field(default_factory=dict)
    product_ids: dict[tuple[int, str], int] = field(default_factory=dict)
    redeemed: dict[tuple[int, str], int] = field(default_factory=dict)
    offers: offers_seam.OfferBook | None = None
    rows: Sequence[Checked] = ()
    line_categories: set[str] | None = None
    recording: bool = True
    # Whom the messages of the batch go to (their language), read once.
    recipients: dict[int, notifications.Recipient] = field(default_factory=dict)

    async def prepare_earning(self, rows: Sequence[Checked], *, recording: bool = True) -> None:
        """Rules, tiers, spends, catalogue categories and captured redemptions for `rows`.
        Not `recording` (a preview or an estimate): no redemption was captured for an
        order not placed, and only items reported without a category need the catalogue."""
        if not rows:
            return
        merchants = {r.store.merchant_id for r in rows if r.store}
        self.rules = await rules_for_merchants(merchants)
        self.tiers = await list_tiers(currency=self.program.currency_code)
        self.spend = await window_spends(
            (r.customer_id for r in rows if r.customer_id is not None), now=self.now
        )
        # The catalogue's products, of every merchant at once: their categories (for items
        # reported without one) and their ids (for the co-purchase statistics).
        found = await catalog.product_keys_of(
            (r.store.merchant_id, item.sku)
            for r in rows
            if r.store
            for item in r.items or []
            if recording or not item.category
        )
        for key, (pk, category) in found.items():
            self.categories[key] = category
            self.product_ids[key] = pk
        # No cashback is earned on credits, those of a redemption captured for the same
        # order included (its orderReference is the purchase's externalId at the store).
        if recording:
            self.redeemed = await redemptions.credits_captured_for_orders(r.key for r in rows)
            self.recipients = await notifications.recipients(
                r.customer_id for r in rows if r.customer_id is not None
            )
        self.rows = rows
        self.recording = recording
        # An estimate's lines all have a category: offers for other categories cannot apply.
        self.line_categories = (
            None
            if recording or any(not r.items for r in rows)
            else {
                category_key
                for r in rows
                if r.store
                for item in r.items or []
                if (
                    category_key := normalize_category(
                        item.category or self.categories.get((r.store.merchant_id, item.sku))
                    )
                )
                is not None
            }
        )
        await self.read_offers()

    async def read_offers(self) -> None:
        """The offers the batch may use (read again when one ran out meanwhile: what the
        batch recorded so far has committed)."""
        rows = self.rows
        self.offers = await offers_seam.offer_book(
            customer_ids=(r.customer_id for r in rows if r.customer_id is not None),
            merchant_ids=(r.store.merchant_id for r in rows if r.store),
            occurred=(min(r.occurred_at for r in rows), max(r.occurred_at for r in rows)),
            currency=self.program.currency_code,
            categories=self.line_categories,
            tier_codes=None if self.recording else self._tier_codes(),
        )

    def _tier_codes(self) -> dict[int, str] | None:
        """Each customer's tier now (a preview or an estimate: no purchase of the batch
        changes it)."""
        if self.tiers is None or self.spend is None:
            return None
        return {
            r.customer_id: tier_for_spend(self.tiers, self.spend.get(r.customer_id, 0))[0].code
            for r in self.rows
            if r.customer_id is not None
        }

    async def earning_for(
        self, row: Checked, *, with_offers: bool = True
    ) -> tuple[Earning, TierInfo]:
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
                self.redeemed.get(row.key, 0),
                max(0, row.total_minor - row.credits_used_minor),
            ),
            lines=lines,
        )
        assert self.offers is not None
        offers = self.offers.eligible(
            customer_id=row.customer_id if with_offers else None,
            merchant_id=store.merchant_id,
            channel=store.channel.value,
            occurred_at=row.occurred_at,
            tier_code=tier.code,
        )
        return compute_cashback(facts, rules=self.rules, tier=tier.terms, offers=offers), tier

    def tier_reached(self, row: Checked, tier: TierInfo) -> TierInfo | None:
        """The higher tier the purchase `row` takes its customer to (from `tier`, where
        their spend before it put them), if it does."""
        if self.tiers is None or self.spend is None or row.customer_id is None:
            return None
        if not counts_at(row.occurred_at, self.now):
            return None
        spend = self.spend.get(row.customer_id, 0) + row.total_minor
        after, _ = tier_for_spend(self.tiers, spend)
        return after if after.minimum_spend.minor > tier.minimum_spend.minor else None

    def counted(self, purchase: Purchase, earned: Earning) -> None:
        """A purchase just recorded counts towards its customer's tier and offers for the
        next ones."""
        if self.offers is not None:
            self.offers.used(
                customer_id=purchase.customer_id,
                amounts=offer_amounts(earned),
                occurred_at=purchase.occurred_at,
                channel=purchase.channel,
            )
        if self.spend is not None and counts_at(purchase.occurred_at, self.now):
            self.spend[purchase.customer_id] = (
                self.spend.get(purchase.customer_id, 0) + purchase.total_minor
            )


def _mismatch(existing: Purchase, row: Checked) -> DomainError | None:
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


async def look_up(
    rows: Sequence[Checked], context: EarningContext, merchant_scope: int | None
) -> list[Checked | DomainErrors]:
    """Stores and customers of the rows; a row with any problem becomes its errors."""
    context.stores = await catalog.store_infos(r.store_id for r in rows if r.store_id is not None)
    customers = await _resolve_customers(r.customer for r in rows if r.customer is not None)
    looked_up: list[Checked | DomainErrors] = []
    for r in rows:
        problems = r.problems
        if r.store_id is not None:
            r.store = context.stores.get(r.store_id)
            if r.store is None:
                problems.add(UnknownStore(field=[*r.path, "storeId"]))
            else:
                with problems.catch():
                    catalog.check_store_scope(r.store, merchant_scope, field=[*r.path, "storeId"])
        if r.customer is not None:
            r.customer_id = customers[r.customer]
            if r.customer_id == DELETED:
                r.customer_id = None
                problems.add(CustomerDeleted(field=_customer_field(r.path, r.customer)))
            elif r.customer_id is None:
                problems.add(UnknownCustomer(field=_customer_field(r.path, r.customer)))
        looked_up.append(DomainErrors(problems.errors) if problems else r)
    return looked_up


async def any_recorded() -> bool:
    """Whether any purchase was ever recorded (its amounts are in the program's currency)."""
    return await Purchase.exists()


async def _existing_purchases(rows: Sequence[Checked]) -> dict[tuple[int, str], Purchase]:
    if not rows:
        return {}
    stores = {r.store_id for r in rows}
    external_ids = {r.external_id for r in rows}
    found = await Purchase.filter(store_id__in=stores, external_id__in=external_ids)
    return {(p.store_id, p.external_id): p for p in found}


def _explanation_json(parts: Sequence[Part]) -> list[dict[str, object]]:
    return [part.as_json() for part in parts]


async def _insert_purchase(
    row: Checked, earned: Earning, tier: TierInfo, context: EarningContext
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
        if db.dialect() == "postgres":
            # One statement of constant text (prepared once per connection), the items as
            # arrays, however many there are.
            columns = [list(column) for column in zip(*items, strict=True)] or [[]] * 5
            [inserted] = await db.rows(_INSERT_PURCHASE_AND_ITEMS_PG, *values, *columns)
        else:
            [inserted] = await db.rows(_INSERT_PURCHASE, *values)
            if items:
                marks = ", ".join([f"({db.marks(len(_ITEM_COLUMNS))})"] * len(items))
                flat = [v for item in items for v in (inserted["id"], *item)]
                await db.execute(f"{_INSERT_ITEMS} VALUES {marks}", *flat)
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
        await segments.record_purchase(
            customer_id=row.customer_id,
            merchant_id=store.merchant_id,
            channel=store.channel.value,
            occurred_at=row.occurred_at,
            spend_by_category=spend_by_category(
                row.total_minor, ((category, n * price) for _, _, category, n, price in items)
            ),
            now=context.now,
        )
        await co_purchases.record_purchase(
            co_purchases.Basket(
                purchase_id=purchase_id,
                customer_id=row.customer_id,
                occurred_at=row.occurred_at,
                products=co_purchases.products_of(
                    (
                        context.product_ids.get((store.merchant_id, sku)),
                        context.categories.get((store.merchant_id, sku)),
                    )
                    for sku, *_ in items
                ),
            )
        )
        if earned.offer_ids:
            await offers_seam.record_offer_use(
                purchase_id=purchase_id,
                customer_id=row.customer_id,
                amounts=offer_amounts(earned),
                now=context.now,
            )
        if has_cashback:
            await notifications.cashback_recorded(
                customer_id=row.customer_id,
                purchase_id=purchase_id,
                amount_minor=earned.amount_minor,
                currency=program.currency_code,
                merchant_name=store.merchant_name,
                available_at=available_at,
                now=context.now,
                recipient=context.recipients.get(row.customer_id),
            )
        reached = context.tier_reached(row, tier)
        if reached is not None:
            await notifications.tier_reached(
                customer_id=row.customer_id,
                purchase_id=purchase_id,
                tier_code=reached.code,
                tier_name=reached.name,
                now=context.now,
                recipient=context.recipients.get(row.customer_id),
            )
        # Last, as in a refund: a writer holds its customer's spend row only at its end.
        await count_purchase(
            customer_id=row.customer_id,
            total_minor=row.total_minor,
            occurred_at=row.occurred_at,
            now=context.now,
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
    f"VALUES ({db.marks(len(_PURCHASE_COLUMNS))}) RETURNING id"
)


_INSERT_PURCHASE_AND_ITEMS_PG = (
    f"WITH p AS ({_INSERT_PURCHASE}), i AS ({_INSERT_ITEMS} "  # noqa: S608
    f"SELECT p.id, v.* FROM p, unnest(${len(_PURCHASE_COLUMNS) + 1}::varchar[], "
    f"${len(_PURCHASE_COLUMNS) + 2}::varchar[], ${len(_PURCHASE_COLUMNS) + 3}::varchar[], "
    f"${len(_PURCHASE_COLUMNS) + 4}::int[], ${len(_PURCHASE_COLUMNS) + 5}::bigint[]) AS v) "
    "SELECT id FROM p"
)


def offer_amounts(earned: Earning) -> dict[int, int]:
    """What each offer gave to a credit."""
    amounts: dict[int, int] = {}
    for part in earned.parts:
        if part.source.startswith("offer:"):
            offer_id = int(part.source.split(":")[1])
            amounts[offer_id] = amounts.get(offer_id, 0) + part.amount_minor
    return amounts


def earned_redeemed(row: Checked, earned: Earning) -> int:
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
    context = EarningContext(program=program, now=now)
    batch = tuple(path) == ("inputs",)
    checked = [
        check_input(
            purchase,
            currency=program.currency_code,
            now=now,
            path=[*path, str(i)] if batch else list(path),
            max_total=program.max_purchase_total,
        )
        for i, purchase in enumerate(purchases)
    ]
    rows = await look_up(checked, context, merchant_scope)
    valid = [r for r in rows if isinstance(r, Checked)]
    existing = await _existing_purchases(valid)
    await context.prepare_earning([r for r in valid if r.key not in existing])

    outcomes: list[Outcome | None] = [None] * len(rows)

    async def record_in_order(indexes: list[int]) -> None:
        for index in indexes:
            outcomes[index] = await _record_one(rows[index], existing, context)

    lanes = _lanes(rows)
    if len(lanes) == 1:
        await record_in_order(lanes[0])
    else:
        # Each customer's purchases in order on one lane (their tier grows with each one);
        # a few lanes at once, so a batch does not wait on one connection's round trips.
        gate = asyncio.Semaphore(BATCH_LANES)

        async def lane(indexes: list[int]) -> None:
            async with gate:
                await record_in_order(indexes)

        await asyncio.gather(*(lane(indexes) for indexes in lanes))
    return _every_outcome(outcomes)


def _every_outcome(outcomes: list[Outcome | None]) -> list[Outcome]:
    """One outcome per input, in order. A missing one is a defect: answering with a shorter
    list would let a partner read one purchase's result as another's."""
    missing = [index for index, outcome in enumerate(outcomes) if outcome is None]
    if missing:
        raise RuntimeError(f"recordPurchases lost the outcome of inputs {missing}")
    return [outcome for outcome in outcomes if outcome is not None]


async def _record_one(
    row: Checked | DomainErrors,
    existing: dict[tuple[int, str], Purchase],
    context: EarningContext,
) -> Outcome:
    """One checked row recorded and credited, or the repeat it is, or why it was refused.
    `existing` gains what is recorded, so a later repeat in the batch finds it."""
    if isinstance(row, DomainErrors):
        return Outcome(error=row)
    key = row.key
    if key in existing:
        return _repeat(existing[key], row)
    if context.rules is None:  # every row was a repeat when the batch began
        await context.prepare_earning([row])
    try:
        purchase, earned = await _insert_with_offers(row, context)
    except IntegrityError:
        # Recorded at the same moment by another request: that one counts.
        found = await Purchase.get_or_none(store_id=row.store_id, external_id=row.external_id)
        if found is None:
            raise
        existing[key] = found
        return _repeat(found, row)
    except (DomainError, DomainErrors) as error:
        return Outcome(error=error)
    existing[key] = purchase
    context.counted(purchase, earned)
    return Outcome(purchase=purchase, created=True)


# An offer that ran out between reading and writing: computed again this many times.
OFFER_RETRIES = 5


async def _insert_with_offers(row: Checked, context: EarningContext) -> tuple[Purchase, Earning]:
    """The purchase recorded with the offers still available when it commits (without
    offers, if they keep running out under it)."""
    for attempt in range(OFFER_RETRIES + 1):
        earned, tier = await context.earning_for(row, with_offers=attempt < OFFER_RETRIES)
        try:
            purchase = await retrying(
                functools.partial(_insert_purchase, row, earned, tier, context)
            )
            return purchase, earned
        except offers_seam.OfferNotAvailable:
            await context.read_offers()
    raise AssertionError("the last attempt uses no offer")


def _lanes(rows: Sequence[Checked | DomainErrors]) -> list[list[int]]:
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


def _repeat(existing: Purchase, row: Checked) -> Outcome:
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
