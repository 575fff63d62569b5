"""The baseline of the Home benchmarks: a hand-written Starlette + asyncpg endpoint that
answers the two documents of home_docs.py (`Home` and `Balance`) with the very bytes the
service answers, from the same tables, with as few statements as we could write.

    .venv/bin/python scripts/bench/home_baseline.py [--port 8766] [--workers 1]

Environment: BASELINE_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_home),
BASELINE_JWT_SECRET (default: the bench's), BASELINE_POOL_MAX (default 10).

It is what this stack can do on this machine: no GraphQL parsing (a request's document is
recognised by its exact text), no ORM, one pooled connection per request released without
asyncpg's reset round trip, `Balance` in one statement and `Home` in two (the customer's
facts, then their offers, suggestion candidates and the offers those may earn with). What
the service decides in Python is ported here: the caller's checks (app/accounts/tokens.py,
loaders.principals_alive), tiers (app/cashback/tiers.py), audiences (app/offers/audience.py),
the offers' order (app/offers/feed.py), suggestions (app/suggestions/service.py) and their
estimated cashback (app/cashback/preview.py estimate_cashback, app/cashback/earning.py).
A wallet whose next change is due would be settled (written) by the service: here it is
answered 503, so a run on such data fails its check instead of measuring something else.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

from home_docs import BALANCE, HOME, HOME_DEFAULT_OFFERS, HOME_DEFAULT_SUGGESTIONS

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_home"
DEFAULT_SECRET = "bench-home-secret-that-is-long-enough-for-hs256-0123456789"
ISSUER, AUDIENCE = "cashback", "cashback-api"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "typ"]
MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3}
MAX_PAGE_SIZE = 100
TIER_WINDOW = timedelta(days=365)
# app/suggestions/service.py
MAX_FIRST = 50
PAIRS_PER_SEED = 60
MIN_SUPPORT = 2
SEED_PURCHASES = 5
MAX_SEEDS = 10
EXTRA_CANDIDATES = 10
ADVANTAGE_PLACES = 1.5
# app/segments/service.py
RECENCY_DAYS = (365, 180, 90, 30)
FREQUENCY_COUNTS = (1, 3, 6, 12)
MONETARY_MAJOR = (50, 200, 500, 1_500)
GENERATIONS = (
    ("GEN_ALPHA", 2013, 9999), ("GEN_Z", 1997, 2012), ("MILLENNIAL", 1981, 1996),
    ("GEN_X", 1965, 1980), ("BABY_BOOMER", 1946, 1964), ("SILENT", 1, 1945),
)  # fmt: skip


class Refused(Exception):
    """The request gets an error answer (never compared: the check sends valid ones)."""

    def __init__(self, message: str, status: int = 200, code: str = "UNAUTHENTICATED") -> None:
        super().__init__(message)
        self.status, self.code = status, code


# --- values as the service prints them -----------------------------------------------------


def plain_decimal(value: Decimal | int | str) -> Decimal:
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def money(minor: int, currency: str) -> dict[str, str]:
    amount = Decimal(minor).scaleb(-MINOR_UNITS.get(currency, 2))
    return {"amount": str(amount), "currencyCode": currency}


def encode_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"[{position}]".encode()).decode().rstrip("=")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def normalize_category(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    return text.casefold() if text else None


def accept_languages(header: str | None) -> list[str]:
    """app/core/locales.py accept_languages."""
    if not header or len(header) > 500:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if 0 < quality <= 1:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)[:10]]


def pick(translations: dict[str, Any] | None, wanted: Sequence[str]) -> Any:
    """app/core/locales.py pick."""
    if not translations:
        return None
    by_lower = {tag.lower(): value for tag, value in translations.items()}
    for tag in wanted:
        key = tag.lower()
        if key in by_lower:
            return by_lower[key]
        language = key.split("-")[0]
        if language in by_lower:
            return by_lower[language]
        for other, value in by_lower.items():
            if other.split("-")[0] == language:
                return value
    return None


# --- the caller ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    session_id: int | None


def caller_of(secret: bytes, header: str | None) -> Caller:
    """app/accounts/tokens.py principal_from_token, for a customer's access token."""
    if not header:
        raise Refused("Sign in to do this.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused("Send the access token as 'Bearer <token>'.")
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        valid_from, expires = float(claims["nbf"]), float(claims["exp"])
    except (jwt.PyJWTError, TypeError, ValueError):
        raise Refused("The access token is not valid.") from None
    if not valid_from <= time.time() < expires:
        raise Refused("The access token has expired or is not valid yet.")
    sub = str(claims["sub"])
    if not sub.isdigit() or claims["typ"] != "access":
        raise Refused("The access token is not valid.")
    if claims.get("role") != "CUSTOMER":
        raise Refused("Only a signed-in customer may do this.", code="FORBIDDEN")
    session = claims.get("sid")
    if session is not None and (type(session) is not int or session <= 0):
        raise Refused("The access token is not valid.")
    return Caller(int(sub), session)


# --- statements ------------------------------------------------------------------------------

# The caller alive (their session not ended, their account not deleted: principals_alive
# and get_active_user), the program's currency and the wallet. $1 user, $2 session.
_ALIVE = (
    "(CASE WHEN $2::bigint IS NULL THEN u.id ELSE (SELECT s.user_id FROM auth_sessions s"
    " JOIN users su ON su.id = s.user_id WHERE s.id = $2 AND s.ended_at IS NULL"
    " AND su.deleted_at IS NULL) END) AS session_user"
)
_WALLET = (
    "w.available, w.pending, w.reserved, w.lifetime_earned, w.next_expiry_amount,"
    " w.next_expiry_at, w.next_change_at"
)
_FROM = (
    " FROM users u CROSS JOIN program_settings ps LEFT JOIN ledger_wallets w"
    " ON w.customer_id = u.id AND w.currency = ps.currency_code"
)
BALANCE_SQL = (
    f"SELECT {_ALIVE}, ps.currency_code, {_WALLET}{_FROM}"
    " WHERE u.id = $1 AND u.deleted_at IS NULL AND ps.id = 1"
)

# Everything about the customer that the second statement's parameters need.
# $3: the tier window's start; $4: the purchases that seed suggestions.
FACTS_SQL = (
    f"SELECT {_ALIVE}, ps.currency_code, {_WALLET},"
    " u.display_name, u.member_code, u.birth_date, u.locale, u.consent_personalization,"
    " (SELECT array_agg(ROW(t.code, t.name, t.multiplier, t.minimum_spend_minor)"
    "   ORDER BY t.minimum_spend_minor) FROM cashback_tiers t) AS tiers,"
    " (SELECT SUM(pu.total_minor - pu.refunded_minor) FROM cashback_purchases pu"
    "   WHERE pu.customer_id = u.id AND pu.occurred_at >= $3) AS spend,"
    " p.purchase_count, p.last_purchase_at, p.spend_minor, p.online_count, p.in_store_count,"
    " p.favorite_category, p.favorite_merchant_ids,"
    " CASE WHEN u.consent_personalization THEN (SELECT array_agg(ROW(l.product_id, sp.category)"
    "   ORDER BY recent.day DESC, recent.purchase_id DESC, l.product_id)"
    "   FROM suggestion_basket_lines l JOIN suggestion_products sp ON sp.product_id = l.product_id"
    "   JOIN (SELECT DISTINCT purchase_id, day FROM suggestion_basket_lines"
    "     WHERE customer_id = u.id ORDER BY day DESC, purchase_id DESC LIMIT $4) AS recent"
    "   ON recent.purchase_id = l.purchase_id) END AS bought,"
    " (SELECT array_agg(ROW(r.id, r.name, r.percent, r.merchant_id, r.category, r.channels,"
    "   r.minimum_spend_minor, r.max_cashback_minor, r.starts_at, r.ends_at) ORDER BY r.id)"
    "   FROM cashback_rules r WHERE r.active) AS rules"
    f"{_FROM} LEFT JOIN customer_profiles p ON p.customer_id = u.id"
    " WHERE u.id = $1 AND u.deleted_at IS NULL AND ps.id = 1"
)

_MEMBER = (
    "(o.aud_tiers IS NULL OR o.aud_tiers LIKE {})"
    " AND (o.aud_min_age IS NULL OR o.aud_min_age <= {})"
    " AND (o.aud_max_age IS NULL OR o.aud_max_age >= {})"
    " AND (o.aud_generations IS NULL OR o.aud_generations LIKE {})"
    " AND (o.aud_birthday_month = FALSE OR {} = 1)"
    " AND (o.aud_favorite_category IS NULL OR o.aud_favorite_category = {})"
    " AND (o.aud_new_customers = FALSE OR {} = 0)"
    " AND (o.aud_lapsed_days IS NULL OR o.aud_lapsed_days <= {})"
    " AND (o.aud_channels IS NULL OR o.aud_channels = {})"
    " AND (o.aud_min_recency IS NULL OR o.aud_min_recency <= {})"
    " AND (o.aud_min_frequency IS NULL OR o.aud_min_frequency <= {})"
    " AND (o.aud_min_monetary IS NULL OR o.aud_min_monetary <= {})"
)
# The customer's offers, live and in their audience, not used up: app/offers/feed.py.
_OFFERS_OF = (
    " FROM offers o LEFT JOIN offer_customers s ON s.offer_id = o.id AND s.customer_id = $1"
    " WHERE o.status = 'ACTIVE' AND o.starts_at <= $2 AND o.ends_at > $2"
    " AND (o.budget_minor IS NULL OR o.budget_used_minor + COALESCE(o.bonus_minor, 1)"
    " <= o.budget_minor) AND (o.per_customer_limit IS NULL OR COALESCE(s.uses, 0)"
    f" < o.per_customer_limit) AND {_MEMBER.format(*(f'${n}' for n in range(3, 15)))}"
)
_MERCHANT_JOIN = "LEFT JOIN catalog_merchants m ON m.id = o.merchant_id"
_PROGRAM_ORDER = "o.uses_count DESC, o.ends_at ASC, o.id DESC"
# Parameters from $15 on, after the customer, now and the audience's twelve.
_RELEVANCE = (
    "(CASE WHEN o.category_key = $15 THEN 2 ELSE 0 END"
    " + CASE WHEN o.merchant_id IN ($16, $17, $18) THEN 2 ELSE 0 END) DESC, "
    "(CASE WHEN o.bonus_minor IS NULL THEN CAST(o.percent AS REAL) * $19 / 100"
    " WHEN COALESCE(o.minimum_spend_minor, 0) <= $20 THEN CAST(o.bonus_minor AS REAL)"
    " ELSE CAST(o.bonus_minor AS REAL) * $21 / o.minimum_spend_minor END) DESC, "
    f"{_PROGRAM_ORDER}"
)


def _home_sql(personalized: bool) -> str:
    """The second statement of Home: the offers' page, the suggestion candidates (their
    products, merchants and the store an estimate is made at), the seeds' names and the
    offers the candidates may earn with (app/offers/usage.py OfferBook.eligible)."""
    n = 22 if personalized else 15
    limit, offset, seeds, per_seed, support, excluded, wanted, cats = (
        f"${i}" for i in range(n, n + 8)
    )
    order = _RELEVANCE if personalized else _PROGRAM_ORDER
    feed = (
        "SELECT o.id, o.title, o.description, o.terms, o.translations::text, o.kind,"
        " o.percent, o.bonus_minor, o.minimum_spend_minor, o.currency, o.merchant_id,"
        " o.category, o.channels, o.starts_at, o.ends_at, o.members_only, o.targeted,"
        " o.requires_activation, s.activated_at, m.name, m.logo_url"
        f"{_OFFERS_OF.replace(' WHERE', f' {_MERCHANT_JOIN} WHERE', 1)}"
        f" ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    )
    # The pairs' part as app/suggestions/service.py writes it (the same sums, the same
    # order), with the seeds as one array parameter.
    scored = (
        "SELECT t.seed, t.candidate, (t.together + 0.5 * t.follow_ups)"
        " / sqrt(CAST(a.purchases AS DOUBLE PRECISION) * b.purchases) AS part"
        " FROM (SELECT s.product_id AS seed, p.related_id AS candidate, p.together, p.follow_ups"
        f" FROM (SELECT product_id FROM suggestion_products WHERE product_id = ANY({seeds}))"
        " AS s CROSS JOIN LATERAL (SELECT related_id, together, follow_ups"
        " FROM suggestion_pairs WHERE product_id = s.product_id AND together > 0"
        f" ORDER BY together DESC, related_id DESC LIMIT {per_seed}) AS p) AS t"
        " JOIN suggestion_products a ON a.product_id = t.seed"
        " JOIN suggestion_products b ON b.product_id = t.candidate"
        f" WHERE t.together + t.follow_ups >= {support} AND a.purchases > 0 AND b.purchases > 0"
    )
    union = (
        "SELECT * FROM (SELECT 'pair' AS source, 0 AS src, candidate AS product_id, seed,"
        " 0 AS bought, score FROM (SELECT candidate, seed,"
        " SUM(part) OVER (PARTITION BY candidate) AS score,"
        " ROW_NUMBER() OVER (PARTITION BY candidate ORDER BY part DESC, seed) AS n"
        f" FROM ({scored}) AS parts WHERE candidate <> ALL({excluded})) AS scored"
        f" WHERE n = 1 ORDER BY score DESC, candidate LIMIT {wanted}) AS pairs"
        " UNION ALL SELECT * FROM (SELECT 'category', 1, product_id, CAST(NULL AS BIGINT),"
        " purchases, 0 FROM suggestion_products WHERE category = ANY("
        f"{cats}) AND purchases > 0 AND product_id <> ALL({excluded})"
        f" ORDER BY purchases DESC, product_id LIMIT {wanted}) AS in_category"
        " UNION ALL SELECT * FROM (SELECT 'popular', 2, product_id, CAST(NULL AS BIGINT),"
        f" purchases, 0 FROM suggestion_products WHERE purchases > 0 AND product_id <> ALL("
        f"{excluded}) ORDER BY purchases DESC, product_id LIMIT {wanted}) AS everywhere"
    )
    # Each product once, where it ranks best (the service's sort then dict), `wanted` kept.
    candidates = (
        "SELECT source, product_id, seed, ROW_NUMBER() OVER (ORDER BY src, score DESC,"
        " bought DESC, product_id) AS k FROM (SELECT DISTINCT ON (product_id) * FROM"
        f" ({union}) AS u ORDER BY product_id, src, score DESC, bought DESC) AS d"
        f" ORDER BY k LIMIT {wanted}"
    )
    sold = (
        "SELECT c.k, c.source, c.product_id, c.seed, p.sku, p.name, p.image_url, p.category,"
        " p.price_minor, p.currency, p.merchant_id, m.name AS merchant_name,"
        " m.cashback_percent, st.channel AS store_channel FROM cand c"
        " JOIN catalog_products p ON p.id = c.product_id AND p.active"
        " JOIN catalog_merchants m ON m.id = p.merchant_id"
        " LEFT JOIN LATERAL (SELECT s.channel FROM catalog_stores s"
        " WHERE s.merchant_id = p.merchant_id ORDER BY (s.channel <> 'ONLINE'), s.id LIMIT 1)"
        " AS st ON TRUE"
    )
    terms = (
        "SELECT o.id, o.title, o.kind, o.percent, o.bonus_minor, o.merchant_id,"
        " o.category_key, o.channels, o.minimum_spend_minor, o.budget_minor - o.budget_used_minor"
        f"{_OFFERS_OF} AND (o.requires_activation = FALSE OR s.activated_at <= $2)"
        " AND (o.merchant_id IS NULL OR o.merchant_id IN (SELECT merchant_id FROM sold))"
    )
    return (
        f"WITH cand AS ({candidates}), sold AS ({sold}) SELECT"
        f" (SELECT array_agg(ROW(f.*)) FROM ({feed}) AS f) AS offers,"
        " (SELECT array_agg(ROW(sold.*) ORDER BY sold.k) FROM sold) AS sold,"
        f" (SELECT array_agg(ROW(p.id, p.name)) FROM catalog_products p WHERE p.id = ANY({seeds}))"
        " AS seeds,"
        f" (SELECT array_agg(ROW(t.*)) FROM ({terms}) AS t) AS terms"
    )


HOME_SQL = {True: _home_sql(True), False: _home_sql(False)}


# --- the customer as audiences and tiers see them -------------------------------------------


@dataclass(frozen=True, slots=True)
class TierRow:
    code: str
    name: str
    multiplier: Decimal
    minimum_spend: int


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    name: str
    percent: Decimal
    merchant_id: int | None
    category: str | None
    channels: frozenset[str] | None
    minimum_spend: int | None
    cap: int | None
    starts_at: datetime | None
    ends_at: datetime | None

    def in_window(self, at: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at
        )


def age_at(born: date, at: date) -> int:
    return at.year - born.year - ((at.month, at.day) < (born.month, born.day))


def member_params(facts: asyncpg.Record, tier: TierRow, now: datetime) -> list[Any]:
    """app/offers/audience.py member_params of Member.of(...) at `now`."""
    born: date | None = facts["birth_date"]
    age = age_at(born, now.date()) if born else None
    generation = next((g for g, a, b in GENERATIONS if a <= born.year <= b), None) if born else None
    count = facts["purchase_count"] or 0
    last = facts["last_purchase_at"]
    days = None if last is None else max(0, (now - last).days)
    online, in_store = facts["online_count"] or 0, facts["in_store_count"] or 0
    channels = (
        "BOTH" if online and in_store else "ONLINE" if online else "IN_STORE" if in_store else None
    )
    recency = 0 if days is None else 1 + sum(1 for limit in RECENCY_DAYS if days <= limit)
    frequency = 0 if count <= 0 else 1 + sum(1 for limit in FREQUENCY_COUNTS if count > limit)
    spend = facts["spend_minor"] or 0
    scale = 10 ** MINOR_UNITS.get(facts["currency_code"], 2)
    monetary = 0 if spend <= 0 else 1 + sum(1 for limit in MONETARY_MAJOR if spend >= limit * scale)
    return [
        f"%,{tier.code},%",
        -1 if age is None else age,
        10_000 if age is None else age,
        f"%,{generation},%" if generation else "",
        int(born is not None and born.month == now.month),
        facts["favorite_category"] or "",
        count,
        -1 if days is None else days,
        channels or "",
        recency,
        frequency,
        monetary,
    ]


# --- estimated cashback: app/cashback/earning.py for one product bought alone ---------------


@dataclass
class _Candidate:
    source: str
    label: str
    percent: Decimal
    rate: Fraction
    cap: Fraction | None
    order: int


@dataclass
class OfferTerm:
    id: int
    title: str
    boosted: bool
    percent: Decimal | None
    bonus: int | None
    channels: frozenset[str] | None
    minimum_spend: int | None
    budget_left: int | None
    rate: Fraction = field(default=Fraction(0))


class OfferIndex:
    """The offers a customer may earn with, by (merchant, category key), each list in the
    order earning would prefer them: only the best matching offer of a line can count
    (one offer per item; a boosted offer's budget left is always above zero)."""

    def __init__(self, rows: Sequence[tuple[Any, ...]] | None) -> None:
        self.boosted: dict[tuple[int | None, str | None], list[OfferTerm]] = {}
        self.bonus: dict[tuple[int | None, str | None], list[OfferTerm]] = {}
        for oid, title, kind, percent, bonus, merchant, category, channels, minimum, left in (
            rows or ()
        ):
            term = OfferTerm(
                oid, title, kind == "BOOSTED_CASHBACK",
                None if percent is None else Decimal(percent), bonus,
                frozenset(channels.split(",")) if channels else None, minimum, left,
            )  # fmt: skip
            key = (merchant, category)
            if term.boosted and term.percent is not None:
                term.rate = Fraction(term.percent) / 100
                if term.rate > 0:
                    self.boosted.setdefault(key, []).append(term)
            elif not term.boosted and (bonus or 0) > 0 and (left is None or left >= bonus):
                self.bonus.setdefault(key, []).append(term)
        for terms in self.boosted.values():
            terms.sort(key=lambda t: (-t.rate, t.budget_left is not None, t.id))
        for terms in self.bonus.values():
            terms.sort(key=lambda t: (-(t.bonus or 0), t.id))

    def best(
        self, table: dict[tuple[int | None, str | None], list[OfferTerm]], merchant: int,
        category: str | None, channel: str, total: int, key: Any,
    ) -> OfferTerm | None:  # fmt: skip
        found: OfferTerm | None = None
        for group in {(None, None), (merchant, None), (None, category), (merchant, category)}:
            for term in table.get(group, ()):
                if term.channels and channel not in term.channels:
                    continue
                if term.minimum_spend is not None and total < term.minimum_spend:
                    continue
                if found is None or key(term) < key(found):
                    found = term
                break
        return found


def _tier_label(label: str, tier: TierRow) -> str:
    if tier.multiplier == 1:
        return label
    return f"{label} ({tier.name} tier x{plain_decimal(tier.multiplier)})"


def estimate(  # noqa: C901 (compute_cashback's steps, kept in its order to compare)
    row: tuple[Any, ...], rules: Sequence[Rule], tier: TierRow, offers: OfferIndex, now: datetime
) -> tuple[int, str | None]:
    """What buying the product alone now credits (minor units), and what earns more than
    the merchant's own percent, in words (suggestions' `_better_part`)."""
    (
        _,
        _,
        _,
        _,
        _,
        _,
        _,
        category,
        price,
        _,
        merchant_id,
        merchant_name,
        merchant_percent,
        channel,
    ) = row
    paid = max(0, price)
    line_category = normalize_category(category) if price > 0 else None
    multiplier = tier.multiplier
    merchant_percent = Decimal(merchant_percent)
    candidates: list[_Candidate] = []
    rate = Fraction(merchant_percent) * Fraction(multiplier) / 100
    if rate > 0:
        label = _tier_label(f"{merchant_name} cashback", tier)
        candidates.append(
            _Candidate(
                "merchant", label, plain_decimal(merchant_percent * multiplier), rate, None, 0
            )
        )
    reaching = [
        r for r in rules
        if r.in_window(now) and (r.minimum_spend is None or price >= r.minimum_spend)
    ]  # fmt: skip
    for i, r in enumerate(reaching):  # rules come ordered by id
        rate = Fraction(r.percent) * Fraction(multiplier) / 100
        if (
            rate > 0
            and (r.merchant_id is None or r.merchant_id == merchant_id)
            and (r.category is None or r.category == line_category)
            and (not r.channels or channel in r.channels)
        ):
            candidates.append(
                _Candidate(
                    f"rule:{r.id}", _tier_label(r.name, tier),
                    plain_decimal(r.percent * multiplier), rate,
                    None if r.cap is None else Fraction(r.cap), 1 + i,
                )
            )  # fmt: skip
    boost = offers.best(
        offers.boosted, merchant_id, line_category, channel, price,
        lambda t: (-t.rate, t.budget_left is not None, t.id),
    )  # fmt: skip
    if boost is not None:
        assert boost.percent is not None
        candidates.append(
            _Candidate(
                f"offer:{boost.id}", boost.title, plain_decimal(boost.percent), boost.rate,
                None if boost.budget_left is None else Fraction(boost.budget_left), 10_000,
            )
        )  # fmt: skip
    candidates.sort(key=lambda c: (-c.rate, c.cap is not None, c.order))
    remaining = Fraction(paid)
    accruals: list[tuple[_Candidate, Fraction]] = []
    for candidate in candidates:
        if remaining <= 0:
            break
        if candidate.cap is not None and candidate.cap <= 0:
            continue
        give, covered = remaining * candidate.rate, remaining
        if candidate.cap is not None and give > candidate.cap:
            give = candidate.cap
            covered = give / candidate.rate
        accruals.append((candidate, give))
        remaining -= covered
    accruals.sort(key=lambda a: a[0].order)
    credit = floor(sum((a for _, a in accruals), Fraction(0)))
    floors = [floor(a) for _, a in accruals]
    left = credit - sum(floors)
    for i in sorted(range(len(accruals)), key=lambda i: (-(accruals[i][1] - floors[i]), i))[
        : max(0, left)
    ]:
        floors[i] += 1
    parts = [(c, amount) for (c, _), amount in zip(accruals, floors, strict=True) if amount > 0]
    amount = sum(a for _, a in parts)
    better = None
    for c, _ in parts:
        if c.source != "merchant":
            better = f"{plain_decimal(c.percent)}% back with {c.label}"
            break
    bonus = offers.best(
        offers.bonus, merchant_id, line_category, channel, price, lambda t: (-(t.bonus or 0), t.id)
    )
    if bonus is not None:
        amount += int(bonus.bonus or 0)
        if better is None:
            better = f"Bonus credits with {bonus.title}"
    return amount, better


# --- the answers -------------------------------------------------------------------------------


def _balance(facts: asyncpg.Record, currency: str, now: datetime) -> dict[str, Any]:
    if facts["available"] is None:  # no wallet: zero
        zero = money(0, currency)
        return {"available": zero, "pending": zero, "reserved": zero, "lifetimeEarned": zero,
                "nextExpiry": None}  # fmt: skip
    due = facts["next_change_at"]
    if due is not None and due <= now:
        raise Refused("the wallet is due: the service would settle it", 503, "WALLET_DUE")
    expiry = None
    if facts["next_expiry_at"] is not None and facts["next_expiry_amount"]:
        expiry = {
            "amount": money(facts["next_expiry_amount"], currency),
            "expiresAt": iso(facts["next_expiry_at"]),
        }
    return {
        "available": money(facts["available"], currency),
        "pending": money(facts["pending"], currency),
        "reserved": money(facts["reserved"], currency),
        "lifetimeEarned": money(facts["lifetime_earned"], currency),
        "nextExpiry": expiry,
    }


def _alive(facts: asyncpg.Record | None, caller: Caller) -> asyncpg.Record:
    if facts is None or facts["session_user"] != caller.user_id:
        raise Refused("This session has ended; sign in again.")
    return facts


async def balance(conn: asyncpg.Connection, caller: Caller) -> dict[str, Any]:
    facts = _alive(await conn.fetchrow(BALANCE_SQL, caller.user_id, caller.session_id), caller)
    now = datetime.now(UTC)
    return {"viewer": {"balance": _balance(facts, facts["currency_code"], now)}}


def _offer(row: tuple[Any, ...], languages: Sequence[str]) -> dict[str, Any]:
    (oid, title, description, terms, translations, kind, percent, bonus, minimum, currency,
     merchant_id, category, channels, starts_at, ends_at, members_only, targeted,
     requires_activation, activated_at, merchant_name, logo_url) = row  # fmt: skip
    if translations is not None:
        texts = pick(json.loads(translations), languages) or {}
        title = texts.get("title", title)
        description = texts.get("description", description)
        terms = texts.get("terms", terms)
    return {
        "id": encode_id("Offer", oid),
        "title": title,
        "description": description,
        "kind": kind,
        "percent": None if percent is None else str(plain_decimal(Decimal(str(percent)))),
        "bonus": None if bonus is None else money(bonus, currency),
        "minimumSpend": None if minimum is None else money(minimum, currency),
        "merchant": None
        if merchant_id is None or merchant_name is None
        else {"id": encode_id("Merchant", merchant_id), "name": merchant_name, "logoUrl": logo_url},
        "category": category,
        "channels": channels.split(",") if channels else None,
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at),
        "terms": terms,
        "exclusive": bool(members_only) or bool(targeted),
        "requiresActivation": bool(requires_activation),
        "activated": activated_at is not None,
    }


def _catalogue_percent(
    merchant_id: int, merchant_percent: Decimal, category: str, price: int,
    rules: Sequence[Rule], now: datetime,
) -> str:  # fmt: skip
    """app/cashback/rules.py best_catalogue_percents for one product."""
    best = Decimal(merchant_percent)
    wanted = normalize_category(category)
    for rule in rules:
        if (
            rule.in_window(now)
            and rule.merchant_id in (None, merchant_id)
            and rule.category in (None, wanted)
            and (rule.minimum_spend or 0) <= price
        ):
            best = max(best, rule.percent)
    return str(plain_decimal(best))


def _suggestions(
    sold: Sequence[tuple[Any, ...]], seed_names: dict[int, str], *, personalized: bool,
    first: int, available: int, currency: str, rules: Sequence[Rule], tier: TierRow,
    offers: OfferIndex, now: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    """app/suggestions/service.py _ranked."""
    scored = []
    for position, row in enumerate(sold):
        price = row[8]
        if row[13] is None:  # the merchant has no store: no estimate
            cashback, better = 0, None
        else:
            cashback, better = estimate(row, rules, tier, offers, now)
        affordable = 0 < price <= available
        place = position - ADVANTAGE_PLACES * (int(affordable) + int(bool(better)))
        scored.append((place, position, affordable, better, cashback, row))
    if personalized:
        scored.sort(key=lambda s: (s[0], s[1]))
    found = []
    for rank, (_, position, affordable, better, cashback, row) in enumerate(scored[:first]):
        passed = [s for s in scored[rank + 1 :] if s[1] < position]
        (_, source, product_id, seed, sku, name, image_url, category, price, product_currency,
         merchant_id, merchant_name, merchant_percent, _) = row  # fmt: skip
        if better and any(s[3] is None for s in passed):
            reason = better
        elif affordable and any(not s[2] for s in passed):
            reason = "You can pay for it with your credits"
        elif source == "pair" and seed is not None and seed in seed_names:
            reason = f"Often bought with {seed_names[seed]}"
        elif source == "category":
            reason = f"Popular in {category}"
        else:
            reason = "Popular with members"
        found.append(
            {
                "product": {
                    "id": encode_id("Product", product_id),
                    "sku": sku,
                    "name": name,
                    "imageUrl": image_url,
                    "category": category,
                    "price": money(price, product_currency),
                    "merchant": {"id": encode_id("Merchant", merchant_id), "name": merchant_name},
                    "cashbackPercent": _catalogue_percent(
                        merchant_id, merchant_percent, category, price, rules, now
                    ),
                },
                "reason": reason,
                "affordableWithBalance": affordable,
                "estimatedCashback": money(cashback, currency),
            }
        )
    return found


async def home(
    conn: asyncpg.Connection, caller: Caller, offers_first: int, suggestions_first: int,
    accept_language: str | None,
) -> dict[str, Any]:  # fmt: skip
    if offers_first < 0:
        raise Refused("first must not be negative.", code="INVALID_INPUT")
    if not 0 <= suggestions_first <= MAX_FIRST:
        raise Refused(f"first is between 0 and {MAX_FIRST}.", code="INVALID_INPUT")
    now = datetime.now(UTC)
    facts = _alive(
        await conn.fetchrow(
            FACTS_SQL, caller.user_id, caller.session_id, now - TIER_WINDOW, SEED_PURCHASES
        ),
        caller,
    )
    currency = facts["currency_code"]
    balance_value = _balance(facts, currency, now)
    tiers = [TierRow(c, n, plain_decimal(m), s) for c, n, m, s in facts["tiers"]]
    spend = int(facts["spend"] or 0)
    tier, following = tiers[0], None
    for i, each in enumerate(tiers):
        if spend >= each.minimum_spend:
            tier, following = each, tiers[i + 1] if i + 1 < len(tiers) else None
    rules = [
        Rule(i, n, Decimal(p), m, normalize_category(c),
             frozenset(ch.split(",")) if ch else None, ms, cap, s, e)
        for i, n, p, m, c, ch, ms, cap, s, e in facts["rules"] or ()
    ]  # fmt: skip
    personalized = bool(facts["consent_personalization"])
    params: list[Any] = [caller.user_id, now, *member_params(facts, tier, now)]
    if personalized:
        favorites = [int(m) for m in (facts["favorite_merchant_ids"] or "").split(",") if m][:3]
        count = facts["purchase_count"] or 0
        ticket = (facts["spend_minor"] or 0) // count if count else 0
        params += [facts["favorite_category"] or "", *favorites, *[0] * (3 - len(favorites))]
        params += [ticket, ticket, ticket]
    limit = min(offers_first, MAX_PAGE_SIZE)
    bought = dict(facts["bought"] or ()) if personalized else {}
    seeds = list(bought)[:MAX_SEEDS]
    categories = []
    if personalized and facts["favorite_category"]:
        categories.append(facts["favorite_category"])
    wanted = suggestions_first + EXTRA_CANDIDATES if suggestions_first else 0
    params += [limit + 1, 0, seeds, max(PAIRS_PER_SEED, wanted), MIN_SUPPORT, seeds, wanted]
    params.append(categories)
    found = await conn.fetchrow(HOME_SQL[personalized], *params)
    languages = ([facts["locale"]] if facts["locale"] else []) + accept_languages(accept_language)
    rows = found["offers"] or []
    cards = [_offer(r, languages) for r in rows[:limit]]
    cursors = [cursor(i + 1) for i in range(len(cards))]
    suggestions: list[dict[str, Any]] = []
    if suggestions_first:
        suggestions = _suggestions(
            found["sold"] or [], dict(found["seeds"] or ()), personalized=personalized,
            first=suggestions_first, available=int(facts["available"] or 0),
            currency=currency, rules=rules, tier=tier, offers=OfferIndex(found["terms"]),
            now=now,
        )  # fmt: skip
    return {
        "viewer": {
            "id": encode_id("Customer", caller.user_id),
            "displayName": facts["display_name"],
            "memberCode": facts["member_code"],
            "tier": {
                "code": tier.code,
                "name": tier.name,
                "cashbackMultiplier": str(tier.multiplier),
                "nextTier": {"code": following.code, "name": following.name} if following else None,
                "spendToNextTier": money(following.minimum_spend - spend, currency)
                if following
                else None,
            },
            "balance": balance_value,
            "offers": {
                "edges": [
                    {"cursor": c, "node": card} for c, card in zip(cursors, cards, strict=True)
                ],
                "pageInfo": {
                    "hasNextPage": len(rows) > limit,
                    "endCursor": cursors[-1] if cursors else None,
                },
            },
            "suggestions": suggestions,
        }
    }


# --- the server -----------------------------------------------------------------------------


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Connections go back to the pool as they are: nothing of a request stays on them."""


def _error(message: str, code: str, status: int) -> Response:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status, media_type="application/json")


def create_app() -> Starlette:
    """The ASGI app (a factory: uvicorn's workers each make their own pool)."""
    url = os.environ.get("BASELINE_DATABASE_URL", DEFAULT_URL)
    secret = os.environ.get("BASELINE_JWT_SECRET", DEFAULT_SECRET).encode()
    pool_max = int(os.environ.get("BASELINE_POOL_MAX", "10"))
    state: dict[str, asyncpg.Pool] = {}

    async def graphql(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            query = body["query"]
            variables = body.get("variables") or {}
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return _error("The request is not a GraphQL request.", "BAD_REQUEST", 400)
        try:
            caller = caller_of(secret, request.headers.get("authorization"))
            async with state["pool"].acquire() as conn:
                if query == HOME:
                    data = await home(
                        conn,
                        caller,
                        int(variables.get("offers", HOME_DEFAULT_OFFERS)),
                        int(variables.get("suggestions", HOME_DEFAULT_SUGGESTIONS)),
                        request.headers.get("accept-language"),
                    )
                elif query == BALANCE:
                    data = await balance(conn, caller)
                else:
                    return _error("The baseline answers Home and Balance only.", "BAD_REQUEST", 400)
        except Refused as refused:
            return _error(str(refused), refused.code, refused.status)
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def lifespan(app: Starlette) -> Any:
        state["pool"] = await asyncpg.create_pool(
            url.replace("postgres://", "postgresql://", 1),
            min_size=2,
            max_size=pool_max,
            reset=_no_reset,
            server_settings={"application_name": "home-baseline"},
        )
        try:
            yield
        finally:
            await state["pool"].close()

    return Starlette(
        routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main() -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "home_baseline:create_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
