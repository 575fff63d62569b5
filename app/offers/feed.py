"""What customers and visitors see: a customer's live offers (one query, ordered for them
with their consent, program-wide without it) and the public feed (offers open to everyone,
nothing personal).

Pages of a ranked list are positions (`after` is the position of the last offer seen):
an order computed for one customer has no stable key to resume after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from app import db
from app.catalog import service as catalog
from app.catalog.service import normalize_category
from app.core.errors import InvalidInput
from app.core.pagination import Page, decode_cursor, encode_cursor, page_size
from app.offers.audience import MEMBER_SQL, Member, member_params
from app.offers.models import Offer, OfferCustomer, OfferStatus

MAX_OFFSET = 10_000


@dataclass(frozen=True, slots=True)
class OfferCard:
    """An offer as shown: its terms, and for a customer whether they activated it."""

    id: int
    title: str
    description: str
    terms: str
    translations: dict[str, dict[str, str]] | None
    kind: str
    percent: Decimal | None
    bonus_minor: int | None
    minimum_spend_minor: int | None
    currency: str
    merchant_id: int | None
    category: str | None
    channels: str | None
    starts_at: datetime
    ends_at: datetime
    exclusive: bool
    requires_activation: bool
    activated: bool = False

    @classmethod
    def of(cls, row: Offer | dict[str, Any], *, activated: bool = False) -> OfferCard:
        def get(name: str) -> Any:
            return row[name] if isinstance(row, dict) else getattr(row, name)

        percent = get("percent")
        starts_at, ends_at = db.to_datetime(get("starts_at")), db.to_datetime(get("ends_at"))
        assert starts_at is not None and ends_at is not None
        return cls(
            id=int(get("id")),
            title=get("title"),
            description=get("description"),
            terms=get("terms"),
            translations=db.from_json(get("translations")),
            kind=str(get("kind")),
            percent=None if percent is None else Decimal(str(percent)),
            bonus_minor=get("bonus_minor"),
            minimum_spend_minor=get("minimum_spend_minor"),
            currency=get("currency"),
            merchant_id=get("merchant_id"),
            category=get("category"),
            channels=get("channels"),
            starts_at=starts_at,
            ends_at=ends_at,
            exclusive=bool(get("members_only")) or bool(get("targeted")),
            requires_activation=bool(get("requires_activation")),
            activated=activated,
        )


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads the feed: a customer as audiences see them, and what ordering may use."""

    customer_id: int
    member: Member
    personalized: bool  # the customer consents to personalization
    favorite_category: str | None = None
    favorite_merchant_ids: tuple[int, ...] = ()
    average_ticket_minor: int = 0


_OFFER = Offer._meta.db_table
_STANDING = OfferCustomer._meta.db_table
_COLUMNS = (
    "o.id, o.title, o.description, o.terms, o.translations, o.kind, o.percent, o.bonus_minor, "
    "o.minimum_spend_minor, o.currency, o.merchant_id, o.category, o.channels, o.starts_at, "
    "o.ends_at, o.members_only, o.targeted, o.requires_activation"
)
# Live: active, in its window, with budget left for one more use.
_LIVE = (
    f"o.status = '{OfferStatus.ACTIVE.value}' AND o.starts_at <= ? AND o.ends_at > ? "
    "AND (o.budget_minor IS NULL OR o.budget_used_minor + COALESCE(o.bonus_minor, 1) "
    "<= o.budget_minor)"
)
# Program-wide: the most used first, then those ending soonest.
_PROGRAM_ORDER = "o.uses_count DESC, o.ends_at ASC, o.id DESC"


def _offset(after: str | None) -> int:
    if not after:
        return 0
    [offset] = decode_cursor(after, 1)
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 < offset <= MAX_OFFSET:
        raise InvalidInput("The cursor is not valid.", field=["after"])
    return int(offset)


def _narrowing(merchant_id: str | None, category: str | None) -> tuple[str, list[Any]]:
    """Offers that apply at the merchant or in the category (those for all of them too)."""
    sql, params = "", list[Any]()
    if merchant_id is not None:
        sql += " AND (o.merchant_id IS NULL OR o.merchant_id = ?)"
        params.append(catalog.merchant_pk(merchant_id, field=["merchantId"]))
    if category is not None:
        sql += " AND (o.category_key IS NULL OR o.category_key = ?)"
        params.append(normalize_category(category) or "")
    return sql, params


def _page(rows: list[dict[str, Any]], offset: int, limit: int, customer: bool) -> Page[OfferCard]:
    cards = [
        OfferCard.of(row, activated=customer and row.get("activated_at") is not None)
        for row in rows[:limit]
    ]
    return Page(
        items=cards,
        cursors=[encode_cursor([offset + i + 1]) for i in range(len(cards))],
        has_next_page=len(rows) > limit,
    )


def _relevance(reader: Reader) -> tuple[str, list[Any]]:
    """The order for a customer who consents: offers in their favourite category and at
    the merchants they buy from, then by what each is worth on their usual purchase."""
    merchants = list(reader.favorite_merchant_ids[:3]) + [0] * (
        3 - len(reader.favorite_merchant_ids[:3])
    )
    ticket = reader.average_ticket_minor
    sql = (
        "(CASE WHEN o.category_key = ? THEN 2 ELSE 0 END"
        " + CASE WHEN o.merchant_id IN (?, ?, ?) THEN 2 ELSE 0 END) DESC, "
        # In floating point: a ranking, not an amount (and cheaper than exact decimals).
        "(CASE WHEN o.bonus_minor IS NULL THEN CAST(o.percent AS REAL) * ? / 100"
        " WHEN COALESCE(o.minimum_spend_minor, 0) <= ? THEN CAST(o.bonus_minor AS REAL)"
        " ELSE CAST(o.bonus_minor AS REAL) * ? / o.minimum_spend_minor END) DESC, "
        f"{_PROGRAM_ORDER}"
    )
    return sql, [reader.favorite_category or "", *merchants, ticket, ticket, ticket]


async def offers_for(
    reader: Reader,
    *,
    first: int,
    after: str | None,
    merchant_id: str | None,
    category: str | None,
    now: datetime,
    birthday_only: bool = False,
    targeted_only: bool = False,
) -> Page[OfferCard]:
    """The live offers whose audience includes the customer and that they have not used
    up, in one statement however many are asked for (`birthday_only`: those for customers
    in their birthday month; `targeted_only`: those for a segment other than birthdays)."""
    limit, offset = page_size(first), _offset(after)
    narrowing, narrowing_params = _narrowing(merchant_id, category)
    if birthday_only:
        narrowing += " AND o.aud_birthday_month = TRUE"
    if targeted_only:
        narrowing += " AND o.targeted = TRUE AND o.aud_birthday_month = FALSE"
    if reader.personalized:
        order, order_params = _relevance(reader)
    else:
        order, order_params = _PROGRAM_ORDER, []
    sql = (
        f"SELECT {_COLUMNS}, s.activated_at FROM {_OFFER} o "  # noqa: S608
        f"LEFT JOIN {_STANDING} s ON s.offer_id = o.id AND s.customer_id = ? "
        f"WHERE {_LIVE} AND (o.per_customer_limit IS NULL OR COALESCE(s.uses, 0) < "
        f"o.per_customer_limit) AND {MEMBER_SQL}{narrowing} "
        f"ORDER BY {order} LIMIT ? OFFSET ?"
    )
    found = await db.rows(
        sql,
        reader.customer_id,
        now,
        now,
        *member_params(reader.member),
        *narrowing_params,
        *order_params,
        limit + 1,
        offset,
    )
    return _page(found, offset, limit, customer=True)


async def public_offers(
    *, first: int, after: str | None, merchant_id: str | None, category: str | None, now: datetime
) -> Page[OfferCard]:
    """Live offers open to everyone (no audience, not reserved to members), in the
    program-wide order."""
    limit, offset = page_size(first), _offset(after)
    narrowing, narrowing_params = _narrowing(merchant_id, category)
    sql = (
        f"SELECT {_COLUMNS} FROM {_OFFER} o "  # noqa: S608
        f"WHERE {_LIVE} AND o.members_only = FALSE AND o.targeted = FALSE{narrowing} "
        f"ORDER BY {_PROGRAM_ORDER} LIMIT ? OFFSET ?"
    )
    found = await db.rows(sql, now, now, *narrowing_params, limit + 1, offset)
    return _page(found, offset, limit, customer=False)
