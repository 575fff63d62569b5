"""Cashback rules: a percent for the purchases they match (a merchant, a category,
channels, a minimum spend, a window), set by admins, read by earning and the catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app import cache
from app.cache import Cached
from app.cashback.earning import RuleTerms
from app.cashback.models import CashbackRule
from app.catalog import service as catalog
from app.catalog.errors import UnknownMerchant
from app.catalog.service import clean_text, normalize_category, parse_percent
from app.catalog.values import Channel, channels_text
from app.core import clock
from app.core.decimals import plain_decimal
from app.core.errors import InputErrors, InvalidAmount, InvalidInput, NotFound
from app.core.ids import decode_id
from app.core.money import parse_money
from app.program.service import get_program


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
    problems = InputErrors()
    values: dict[str, Any] = {}
    with problems.catch():
        values["name"] = clean_text(name, field=["input", "name"], max_length=120)
    with problems.catch():
        values["percent"] = parse_percent(percent, field=["input", "percent"])
    with problems.catch():
        values["terms"] = clean_text(terms, field=["input", "terms"], max_length=10_000)
    if category is not None:
        with problems.catch():
            values["category"] = " ".join(
                clean_text(category, field=["input", "category"], max_length=80).split()
            )
    if minimum_spend is not None:
        with problems.catch():
            values["minimum_spend_minor"] = parse_money(
                *minimum_spend, program_currency=currency, field=["input", "minimumSpend"]
            ).minor
    if max_cashback is not None:
        with problems.catch("input", "maxCashbackPerPurchase"):
            cap = parse_money(
                *max_cashback, program_currency=currency, field=["input", "maxCashbackPerPurchase"]
            ).minor
            if cap <= 0:
                raise InvalidAmount("The cap must be above zero.")
            values["max_cashback_minor"] = cap
    start = clock.as_utc(starts_at) if starts_at else None
    end = clock.as_utc(ends_at) if ends_at else None
    if start and end and end <= start:
        problems.add(InvalidInput("endsAt must be after startsAt.", field=["input", "endsAt"]))
    if merchant_id is not None:
        with problems.catch():
            pk = catalog.merchant_pk(merchant_id, field=["input", "merchantId"])
            if await catalog.get_merchant(pk) is None:
                raise UnknownMerchant(field=["input", "merchantId"])
            values["merchant_id"] = pk
    problems.raise_any()
    async with in_transaction():
        rule = await CashbackRule.create(
            **values,
            currency=currency,
            channels=channels_text(channels),
            starts_at=start,
            ends_at=end,
            created_at=clock.now(),
        )
        await cache.changed(_active_rules.name)
    return rule


async def end_rule(*, rule_id: str) -> CashbackRule:
    try:
        pk = decode_id(rule_id, "CashbackRule")
    except NotFound:
        raise NotFound("No rule has this id.", field=["id"]) from None
    rule = await CashbackRule.get_or_none(id=pk)
    if rule is None:
        raise NotFound("No rule has this id.", field=["id"])
    now = clock.now()
    if rule.active and (rule.ends_at is None or rule.ends_at > now):
        rule.ends_at = now
        async with in_transaction():
            await rule.save(update_fields=["ends_at"])
            await cache.changed(_active_rules.name)
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


async def rules_for_merchants(merchant_ids: Iterable[int]) -> list[RuleTerms]:
    """Active rules that may apply at these merchants (windows are checked per purchase)."""
    ids = set(merchant_ids)
    return [
        rule
        for rule in await _active_rules.get()
        if rule.merchant_id is None or rule.merchant_id in ids
    ]


async def _load_active_rules() -> list[RuleTerms]:
    return [_rule_terms(row) for row in await CashbackRule.filter(active=True).order_by("id")]


# Every purchase and estimate reads them; they change when an admin creates or ends one.
_active_rules = Cached("cashback-rules", _load_active_rules)


async def best_catalogue_percents(keys: Sequence[tuple[int, str, int]]) -> list[Decimal]:
    """For (merchant, category, price in minor units) of products: the best percent a
    purchase of the product alone earns today, before the tier multiplier and offers. A
    DataLoader's batch function (`Product.cashbackPercent`)."""
    merchant_ids = {k[0] for k in keys}
    merchants = {
        m.id: m for m in await catalog.merchants_by_ids(sorted(merchant_ids)) if m is not None
    }
    rules = await rules_for_merchants(merchant_ids)
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
