"""Offers at work: activated by customers, matched to purchases, consumed in the
purchase's transaction and given back by refunds.

A purchase reads the offers it may use once per batch (`OfferBook`), then consumes what
its credit used with conditional updates in its own transaction: the budget never goes
beyond its total and a customer never beyond their limit, whatever runs at the same time
on any process. When a condition fails, the purchase is computed again without that offer
(`OfferNotAvailable`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q

from app import db
from app.accounts import service as accounts
from app.cashback.earning import OfferKind, OfferTerms
from app.core.money import minor_units
from app.offers.audience import MEMBER_SQL, Audience, Member, audience_of, includes, member_params
from app.offers.errors import OfferExpired, OfferNotAvailable, OfferNotEligible, UnknownOffer
from app.offers.feed import OfferCard
from app.offers.models import Offer, OfferCustomer, OfferStatus, OfferUse
from app.offers.service import offer_pk
from app.segments import service as segments
from app.segments.service import Profile

_OFFER = Offer._meta.db_table
_STANDING = OfferCustomer._meta.db_table
_USE = OfferUse._meta.db_table


@dataclass
class _Standing:
    activated_at: datetime | None = None
    uses: int = 0


@dataclass(slots=True)
class _BookOffer:
    """What earning needs of a live offer (read as plain values: a batch may read hundreds)."""

    id: int
    title: str
    kind: str
    percent: Decimal | None
    bonus_minor: int | None
    minimum_spend_minor: int | None
    merchant_id: int | None
    category_key: str | None
    channels: str | None
    starts_at: datetime
    ends_at: datetime
    requires_activation: bool
    per_customer_limit: int | None
    budget_minor: int | None
    budget_used_minor: int


_BOOK_COLUMNS = tuple(_BookOffer.__dataclass_fields__)
_AUDIENCE_COLUMNS = (
    "aud_tiers", "aud_min_age", "aud_max_age", "aud_generations", "aud_birthday_month",
    "aud_favorite_category", "aud_new_customers", "aud_lapsed_days", "aud_channels",
    "aud_min_recency", "aud_min_frequency", "aud_min_monetary",
)  # fmt: skip


def budget_left(offer: Offer | _BookOffer) -> int | None:
    return None if offer.budget_minor is None else offer.budget_minor - offer.budget_used_minor


def _has_budget(offer: Offer | _BookOffer) -> bool:
    left = budget_left(offer)
    return left is None or left >= (offer.bonus_minor or 1)


_KINDS = {kind.value: kind for kind in OfferKind}


def _terms(offer: _BookOffer) -> OfferTerms:
    return OfferTerms(
        id=offer.id,
        title=offer.title,
        kind=_KINDS[offer.kind],
        percent=offer.percent,
        bonus_minor=offer.bonus_minor,
        merchant_id=offer.merchant_id,
        category=offer.category_key,
        channels=frozenset(offer.channels.split(",")) if offer.channels else None,
        minimum_spend_minor=offer.minimum_spend_minor,
        budget_left_minor=budget_left(offer),
    )


@dataclass
class OfferBook:
    """What a batch of purchases needs of offers, read once: the live offers at its
    merchants, its customers' standing with them, their birth dates and profiles."""

    offers: list[tuple[_BookOffer, Audience]]
    standings: dict[tuple[int, int], _Standing]
    birth_dates: Mapping[int, date | None]
    profiles: dict[int, Profile]
    minor_units: int
    _terms: dict[int, OfferTerms] = field(default_factory=dict)
    _members: dict[tuple[int, str, datetime], Member] = field(default_factory=dict)
    # An estimate asks for many products of one customer at one moment: what they may use
    # is worked out once (and again after `used`), by merchant (None: at any merchant).
    _usable: dict[tuple[int, str, datetime], dict[int | None, list[OfferTerms]]] = field(
        default_factory=dict
    )
    # The book of one member read with their audience checked in SQL (as the feed reads
    # offers): the audiences are not checked again here.
    audiences_checked: bool = False

    def eligible(
        self,
        *,
        customer_id: int | None,
        merchant_id: int,
        channel: str,
        occurred_at: datetime,
        tier_code: str,
    ) -> list[OfferTerms]:
        """The offers this purchase may use: audience, window, activation before the
        purchase, the customer's limit and the budget checked (items are matched by
        earning)."""
        if customer_id is None or not self.offers:
            return []
        who = (customer_id, tier_code, occurred_at)
        member = self._members.get(who)
        if member is None:
            member = self._members[who] = Member.of(
                tier_code=tier_code,
                birth_date=self.birth_dates.get(customer_id),
                profile=self.profiles.get(customer_id) or Profile(customer_id=customer_id),
                at=occurred_at,
                minor_units=self.minor_units,
            )
        usable = self._usable.get(who)
        if usable is None:
            usable = self._usable[who] = self._usable_by(customer_id, member, occurred_at)
        return [*usable.get(None, ()), *usable.get(merchant_id, ())]

    def _usable_by(
        self, customer_id: int, member: Member, occurred_at: datetime
    ) -> dict[int | None, list[OfferTerms]]:
        """The offers this customer may use at this moment, by merchant (None: those for
        any merchant)."""
        found: dict[int | None, list[OfferTerms]] = {}
        for offer, audience in self.offers:
            if not offer.starts_at <= occurred_at < offer.ends_at or not _has_budget(offer):
                continue
            standing = self.standings.get((offer.id, customer_id)) or _Standing()
            if offer.requires_activation and (
                standing.activated_at is None or standing.activated_at > occurred_at
            ):
                continue
            if offer.per_customer_limit is not None and standing.uses >= offer.per_customer_limit:
                continue
            if self.audiences_checked or includes(audience, member):
                terms = self._terms.get(offer.id)
                if terms is None:
                    terms = self._terms[offer.id] = _terms(offer)
                found.setdefault(terms.merchant_id, []).append(terms)
        return found

    def used(
        self, *, customer_id: int, amounts: Mapping[int, int], occurred_at: datetime, channel: str
    ) -> None:
        """A purchase of the batch was recorded: the next ones see its uses and that the
        customer has bought."""
        self._members.clear()
        self._usable.clear()
        for offer, _ in self.offers:
            if offer.id in amounts:
                offer.budget_used_minor += amounts[offer.id]
                self._terms.pop(offer.id, None)
                standing = self.standings.setdefault((offer.id, customer_id), _Standing())
                standing.uses += 1
        profile = self.profiles.get(customer_id) or Profile(customer_id=customer_id)
        last = profile.last_purchase_at
        self.profiles[customer_id] = replace(
            profile,
            purchase_count=profile.purchase_count + 1,
            last_purchase_at=occurred_at if last is None else max(last, occurred_at),
            online_count=profile.online_count + (channel == "ONLINE"),
            in_store_count=profile.in_store_count + (channel == "IN_STORE"),
        )


async def offer_book(
    *,
    customer_ids: Iterable[int],
    merchant_ids: Iterable[int],
    occurred: tuple[datetime, datetime],
    currency: str,
    categories: Iterable[str] | None = None,
    tier_codes: Mapping[int, str] | None = None,
) -> OfferBook:
    """The book for purchases by these customers at these merchants, occurring between
    `occurred` (earliest, latest); with `categories` (the category keys of every line),
    only offers for one of them or for any. For one customer at one moment whose tier is
    given (an estimate), only the offers whose audience includes them, with their standing,
    in one statement."""
    customers = sorted(set(customer_ids))
    merchants = sorted(set(merchant_ids))
    earliest, latest = occurred
    units = minor_units(currency)
    if not customers:
        return OfferBook(offers=[], standings={}, birth_dates={}, profiles={}, minor_units=units)
    wanted = None if categories is None else sorted(set(categories))
    if len(customers) == 1 and earliest == latest and tier_codes and customers[0] in tier_codes:
        [customer] = customers
        return await _book_of_member(
            customer, tier_codes[customer], merchants, latest, wanted, units
        )
    live = Offer.filter(
        Q(merchant_id=None) | Q(merchant_id__in=merchants),
        status=OfferStatus.ACTIVE,
        starts_at__lte=latest,
        ends_at__gt=earliest,
    )
    if wanted is not None:
        live = live.filter(Q(category_key=None) | Q(category_key__in=wanted))
    rows = await live.order_by("id").values(*_BOOK_COLUMNS, *_AUDIENCE_COLUMNS)
    offers = [(_book_offer(row), audience_of(row)) for row in rows]
    standings: dict[tuple[int, int], _Standing] = {}
    born: Mapping[int, date | None] = {}
    profiles: dict[int, Profile] = {}
    if offers:
        found = await OfferCustomer.filter(
            offer_id__in=[o.id for o, _ in offers], customer_id__in=customers
        ).values_list("offer_id", "customer_id", "activated_at", "uses")
        standings = {(o, c): _Standing(a, u) for o, c, a, u in found}
        if any(audience.targeted for _, audience in offers):
            born = await accounts.birth_dates(customers)
            profiles = await segments.profiles_of(customers)
    return OfferBook(
        offers=offers,
        standings=standings,
        birth_dates=born,
        profiles=profiles,
        minor_units=units,
    )


_MEMBER_BOOK_SELECT = ", ".join(f"o.{c}" for c in _BOOK_COLUMNS)
_ANYONE = Audience()


async def _book_of_member(
    customer: int,
    tier_code: str,
    merchants: list[int],
    at: datetime,
    categories: list[str] | None,
    units: int,
) -> OfferBook:
    born = (await accounts.birth_dates([customer])).get(customer)
    profile = (await segments.profiles_of([customer]))[customer]
    member = Member.of(
        tier_code=tier_code, birth_date=born, profile=profile, at=at, minor_units=units
    )
    narrowing = _for_any_or(" AND (o.merchant_id IS NULL", "o.merchant_id", merchants)
    params: list[Any] = list(merchants)
    if categories is not None:
        narrowing += _for_any_or(" AND (o.category_key IS NULL", "o.category_key", categories)
        params += categories
    # The audience is checked in SQL (MEMBER_SQL), as the feed checks it: only this
    # customer's offers are read, without their audiences.
    rows = await db.rows(
        f"SELECT {_MEMBER_BOOK_SELECT}, s.activated_at AS standing_activated_at,"  # noqa: S608
        f" s.uses AS standing_uses FROM {_OFFER} o"
        f" LEFT JOIN {_STANDING} s ON s.offer_id = o.id AND s.customer_id = ?"
        f" WHERE o.status = ? AND o.starts_at <= ? AND o.ends_at > ?"
        f"{narrowing} AND {MEMBER_SQL} ORDER BY o.id",
        customer,
        OfferStatus.ACTIVE.value,
        at,
        at,
        *params,
        *member_params(member),
    )
    standings = {
        (int(row["id"]), customer): _Standing(
            db.to_datetime(row["standing_activated_at"]), int(row["standing_uses"])
        )
        for row in rows
        if row["standing_uses"] is not None
    }
    return OfferBook(
        offers=[(_book_offer(row), _ANYONE) for row in rows],
        standings=standings,
        birth_dates={customer: born},
        profiles={customer: profile},
        minor_units=units,
        audiences_checked=True,
    )


def _for_any_or(any_sql: str, column: str, values: Sequence[Any]) -> str:
    """`any_sql` (an open parenthesis), or the column among `values` when there are any."""
    if not values:
        return f"{any_sql})"
    return f"{any_sql} OR {column} IN ({db.marks(len(values))}))"


def _decimal(value: Any) -> Decimal | None:
    """A NUMERIC as either database returns it (PostgreSQL: a Decimal already)."""
    if value is None or type(value) is Decimal:
        return value
    return Decimal(str(value))


def _book_offer(row: dict[str, Any]) -> _BookOffer:
    """An offer's values as either database returns them (SQLite: text times, int flags)."""
    percent = row["percent"]
    starts_at, ends_at = db.to_datetime(row["starts_at"]), db.to_datetime(row["ends_at"])
    assert starts_at is not None and ends_at is not None
    return _BookOffer(
        id=int(row["id"]),
        title=row["title"],
        kind=str(row["kind"]),
        percent=_decimal(percent),
        bonus_minor=row["bonus_minor"],
        minimum_spend_minor=row["minimum_spend_minor"],
        merchant_id=row["merchant_id"],
        category_key=row["category_key"],
        channels=row["channels"],
        starts_at=starts_at,
        ends_at=ends_at,
        requires_activation=bool(row["requires_activation"]),
        per_customer_limit=row["per_customer_limit"],
        budget_minor=row["budget_minor"],
        budget_used_minor=int(row["budget_used_minor"]),
    )


# --- activation --------------------------------------------------------------------------


def check_open_to(offer: Offer, member: Member, standing_uses: int, now: datetime) -> None:
    """Why this customer cannot take this offer now, if they cannot."""
    if offer.status == OfferStatus.ENDED or offer.ends_at <= now:
        raise OfferExpired(field=["offerId"])
    if (
        offer.status != OfferStatus.ACTIVE
        or offer.starts_at > now
        or not _has_budget(offer)
        or (offer.per_customer_limit is not None and standing_uses >= offer.per_customer_limit)
        or not includes(audience_of(offer), member)
    ):
        raise OfferNotEligible(field=["offerId"])


async def activate(*, offer_id: str, customer_id: int, member: Member, now: datetime) -> OfferCard:
    """Activate an offer for the customer: purchases that occur from now on may use it.
    Activating again keeps the first activation."""
    offer = await Offer.get_or_none(id=offer_pk(offer_id, field=["offerId"]))
    if offer is None:
        raise UnknownOffer(field=["offerId"])
    standing = await OfferCustomer.get_or_none(offer_id=offer.id, customer_id=customer_id)
    if standing is None or standing.activated_at is None:
        check_open_to(offer, member, standing.uses if standing else 0, now)
        await db.execute(
            f"INSERT INTO {_STANDING} (offer_id, customer_id, activated_at, uses) "  # noqa: S608
            "VALUES (?, ?, ?, 0) ON CONFLICT (offer_id, customer_id) DO UPDATE "
            f"SET activated_at = COALESCE({_STANDING}.activated_at, excluded.activated_at)",
            offer.id,
            customer_id,
            now,
        )
    return OfferCard.of(offer, activated=True)


# --- at purchase and refund ---------------------------------------------------------------

# Budget and uses in one conditional statement each: a row that does not qualify is not
# updated, and the purchase is computed again.
_TAKE_BUDGET = (
    f"UPDATE {_OFFER} SET budget_used_minor = budget_used_minor + ?, "  # noqa: S608
    "uses_count = uses_count + 1 "
    f"WHERE id = ? AND status = '{OfferStatus.ACTIVE.value}' "
    "AND (budget_minor IS NULL OR budget_used_minor + ? <= budget_minor)"
)
_TAKE_USE = (
    f"INSERT INTO {_STANDING} (offer_id, customer_id, activated_at, uses) "  # noqa: S608
    "VALUES (?, ?, NULL, 1) ON CONFLICT (offer_id, customer_id) DO UPDATE "
    f"SET uses = {_STANDING}.uses + 1 "
    f"WHERE {_STANDING}.uses < COALESCE((SELECT per_customer_limit FROM {_OFFER} "
    "WHERE id = excluded.offer_id), 2147483647) RETURNING uses"
)
_RECORD_USE = (
    f"INSERT INTO {_USE} (offer_id, customer_id, purchase_id, amount_minor, "  # noqa: S608
    "returned_minor, use_returned, created_at) VALUES (?, ?, ?, ?, 0, FALSE, ?)"
)


async def consume(
    *, purchase_id: int, customer_id: int, amounts: Mapping[int, int], now: datetime
) -> None:
    """Inside the purchase's transaction: each offer its credit used gives its part from
    the budget and counts one use of the customer's limit."""
    for offer_id, amount in sorted(amounts.items()):
        if await db.execute(_TAKE_BUDGET, amount, offer_id, amount) != 1:
            raise OfferNotAvailable(str(offer_id))
        if not await db.rows(_TAKE_USE, offer_id, customer_id):
            raise OfferNotAvailable(str(offer_id))
        await db.execute(_RECORD_USE, offer_id, customer_id, purchase_id, amount, now)


async def give_back(*, purchase_id: int, refunded_minor: int, total_minor: int) -> None:
    """Inside a refund's transaction: the offers the purchase used get back the refunded
    share of what it took from their budgets, and the customer's use when the purchase is
    refunded in full."""
    uses = await OfferUse.filter(purchase_id=purchase_id)
    full = refunded_minor >= total_minor
    for use in uses:
        returned = use.amount_minor * min(refunded_minor, total_minor) // max(total_minor, 1)
        delta = returned - use.returned_minor
        use_back = full and not use.use_returned
        if delta <= 0 and not use_back:
            continue
        await db.execute(
            f"UPDATE {_OFFER} SET budget_used_minor = budget_used_minor - ?, "  # noqa: S608
            "uses_count = uses_count - ? WHERE id = ?",
            max(delta, 0),
            int(use_back),
            use.offer_id,
        )
        if use_back:
            await db.execute(
                f"UPDATE {_STANDING} SET uses = uses - 1 "  # noqa: S608
                "WHERE offer_id = ? AND customer_id = ? AND uses > 0",
                use.offer_id,
                use.customer_id,
            )
        use.returned_minor = max(returned, use.returned_minor)
        use.use_returned = use.use_returned or use_back
        await use.save(update_fields=["returned_minor", "use_returned"])
