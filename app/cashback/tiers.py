"""Tiers: levels of the program reached by what a customer spent in the last 365 days,
each multiplying the cashback a purchase earns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import cache
from app.cache import Cached
from app.cashback.earning import TierTerms
from app.cashback.models import Tier
from app.cashback.spend import window_spends
from app.catalog.service import clean_text
from app.core import clock
from app.core.decimals import plain_decimal
from app.core.errors import InputErrors, InvalidInput
from app.core.money import Money, minor_units, parse_money
from app.program.service import get_program

DEFAULT_TIERS = (
    ("BRONZE", "Bronze", Decimal("1.0"), 0),
    ("SILVER", "Silver", Decimal("1.25"), 1_000),
    ("GOLD", "Gold", Decimal("1.5"), 5_000),
)

_TIER_CODE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


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
class TierSpec:
    code: str
    name: str
    multiplier: Decimal
    minimum_spend_amount: Decimal
    minimum_spend_currency: str


def _tier_info(row: Tier, currency: str) -> TierInfo:
    return TierInfo(
        code=row.code,
        name=row.name,
        multiplier=plain_decimal(row.multiplier),
        minimum_spend=Money.from_minor(row.minimum_spend_minor, currency),
    )


async def list_tiers(*, currency: str | None = None) -> list[TierInfo]:
    """The tiers by the spend that reaches them (the defaults on a new program); kept in
    memory until an admin replaces them (`app.cache`)."""
    if currency is None:
        currency = (await get_program()).currency_code
    return [_tier_info(row, currency) for row in await _tier_rows.get()]


async def _load_tier_rows() -> list[Tier]:
    rows = await Tier.all().order_by("minimum_spend_minor")
    if rows:
        return rows
    currency = (await get_program()).currency_code
    scale = 10 ** minor_units(currency)
    try:
        async with in_transaction():
            await Tier.bulk_create(
                [
                    Tier(code=code, name=name, multiplier=mult, minimum_spend_minor=spend * scale)
                    for code, name, mult, spend in DEFAULT_TIERS
                ]
            )
    except IntegrityError:  # made at the same moment by another request
        pass
    return await Tier.all().order_by("minimum_spend_minor")


_tier_rows = Cached("tiers", _load_tier_rows)


def tier_for_spend(tiers: Sequence[TierInfo], spend_minor: int) -> tuple[TierInfo, TierInfo | None]:
    """The tier a spend reaches and the one after it."""
    current, following = tiers[0], None
    for i, tier in enumerate(tiers):
        if spend_minor >= tier.minimum_spend.minor:
            current = tier
            following = tiers[i + 1] if i + 1 < len(tiers) else None
    return current, following


async def customer_tier(*, customer_id: int) -> CustomerTier:
    [found] = await customer_tiers([customer_id])
    return found


async def customer_tiers(customer_ids: Sequence[int]) -> list[CustomerTier]:
    """Each customer's tier and how far the next one is (a DataLoader's batch function:
    the fields of one screen that need the tier share one reading)."""
    program = await get_program()
    tiers = await list_tiers(currency=program.currency_code)
    spends = await window_spends(customer_ids, now=clock.now())
    currency = program.currency_code
    found = []
    for customer_id in customer_ids:
        spend = spends.get(customer_id, 0)
        tier, following = tier_for_spend(tiers, spend)
        found.append(
            CustomerTier(
                tier=tier,
                next_tier=following,
                spend=Money.from_minor(spend, currency),
                spend_to_next_tier=(
                    Money.from_minor(following.minimum_spend.minor - spend, currency)
                    if following
                    else None
                ),
            )
        )
    return found


async def update_tiers(*, tiers: Sequence[TierSpec]) -> list[TierInfo]:
    """Replace the program's tiers. One of them starts at zero spend; multipliers are
    above 0 (at most 10, 3 decimals); codes are unique upper-case words."""
    program = await get_program()
    currency = program.currency_code
    problems = InputErrors()
    rows: list[Tier] = []
    if not 1 <= len(tiers) <= 10:
        raise InvalidInput("Between 1 and 10 tiers.", field=["tiers"])
    codes: set[str] = set()
    spends: set[int] = set()
    for i, spec in enumerate(tiers):
        path = ["tiers", str(i)]
        code = spec.code.strip().upper()
        if not code or len(code) > 32 or not set(code) <= _TIER_CODE_CHARS or code in codes:
            problems.add(
                InvalidInput("A unique code of letters, digits and _.", field=[*path, "code"])
            )
        codes.add(code)
        name = ""
        with problems.catch():
            name = clean_text(spec.name, field=[*path, "name"], max_length=60)
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
            problems.add(
                InvalidInput(
                    "A multiplier above 0, at most 10, with at most 3 decimals.",
                    field=[*path, "cashbackMultiplier"],
                )
            )
        spend = 0
        with problems.catch():
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
        rows.append(Tier(code=code, name=name, multiplier=multiplier, minimum_spend_minor=spend))
    if not problems and 0 not in spends:
        problems.add(InvalidInput("One tier must start at zero spend.", field=["tiers"]))
    problems.raise_any()
    async with in_transaction():
        await Tier.all().delete()
        await Tier.bulk_create(rows)
        await cache.changed(_tier_rows.name)
    return [_tier_info(row, currency) for row in sorted(rows, key=lambda r: r.minimum_spend_minor)]
