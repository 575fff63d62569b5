"""Program settings: read by every money path, changed by admins."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import cache
from app.cache import Cached
from app.core import clock
from app.core.decimals import plain_decimal
from app.core.errors import (
    CurrencyLocked,
    InputErrors,
    InvalidAmount,
    InvalidInput,
)
from app.core.money import Money, is_known_currency, parse_money
from app.program.models import ProgramSettings, TermsVersion

# The default maxima, in units of the program's currency.
DEFAULT_MAX_PURCHASE_TOTAL = Decimal(100_000)
DEFAULT_MAX_REDEMPTION_AMOUNT = Decimal(10_000)
# The most a program may send: a cap above this is no cap at all.
MAX_MARKETING_MESSAGES_PER_WEEK = 50

DEFAULT_TERMS = (
    "Cashback is credited on what you pay with money, pending until the return period ends, "
    "and can be spent for a year after it becomes available."
)


@dataclass(frozen=True, slots=True)
class Program:
    currency_code: str
    pending_days: int
    credit_validity_days: int
    max_redemption_share: Decimal
    minimum_redemption: Money
    terms_version: int
    max_purchase_total: Money
    max_redemption_amount: Money
    marketing_messages_per_week: int = 3


async def _settings_row() -> ProgramSettings:
    row = await ProgramSettings.get_or_none(id=1)
    if row is not None:
        return row
    try:
        async with in_transaction():
            row = await ProgramSettings.create(id=1, updated_at=clock.now())
            await TermsVersion.create(version=1, text=DEFAULT_TERMS, created_at=clock.now())
            return row
    except IntegrityError:  # made at the same moment by another request
        return await ProgramSettings.get(id=1)


async def get_program() -> Program:
    """The settings: read by every purchase, redemption and screen, so kept in memory
    until an admin changes them (`app.cache`)."""
    return await _program.get()


def program_in_memory() -> Program | None:
    """The settings when they are in memory, without reading them (None otherwise)."""
    return _program.in_memory()


async def _load_program() -> Program:
    return _program_of(await _settings_row())


_program = Cached("program", _load_program)


def _program_of(row: ProgramSettings) -> Program:
    return Program(
        currency_code=row.currency_code,
        pending_days=row.pending_days,
        credit_validity_days=row.credit_validity_days,
        # The same text on every database: 0.5, not 0.5000.
        max_redemption_share=plain_decimal(row.max_redemption_share),
        minimum_redemption=Money.from_minor(row.minimum_redemption_minor, row.currency_code),
        terms_version=row.terms_version,
        max_purchase_total=_maximum(
            row.max_purchase_total_minor, DEFAULT_MAX_PURCHASE_TOTAL, row.currency_code
        ),
        max_redemption_amount=_maximum(
            row.max_redemption_amount_minor, DEFAULT_MAX_REDEMPTION_AMOUNT, row.currency_code
        ),
        marketing_messages_per_week=row.marketing_messages_per_week,
    )


def _maximum(minor: int | None, default: Decimal, currency: str) -> Money:
    if minor is None:
        return Money.parse(default, currency)
    return Money.from_minor(minor, currency)


async def terms_text(version: int) -> str:
    """The text of a version of the terms."""
    terms = await TermsVersion.get_or_none(version=version)
    return terms.text if terms else DEFAULT_TERMS


async def update_program(
    *,
    currency_code: str | None = None,
    pending_days: int | None = None,
    credit_validity_days: int | None = None,
    max_redemption_share: Decimal | None = None,
    minimum_redemption: tuple[Decimal, str] | None = None,
    terms: str | None = None,
    max_purchase_total: tuple[Decimal, str] | None = None,
    max_redemption_amount: tuple[Decimal, str] | None = None,
    marketing_messages_per_week: int | None = None,
) -> Program:
    """Change the settings given; a change of the terms text becomes a new terms version."""
    await _settings_row()
    problems = InputErrors()
    async with in_transaction():
        row = await ProgramSettings.select_for_update().get(id=1)
        currency = await _new_currency(row.currency_code, currency_code, problems)
        _check_periods_and_share(pending_days, credit_validity_days, max_redemption_share, problems)
        minimum_minor = row.minimum_redemption_minor
        if minimum_redemption is not None:
            amount, amount_currency = minimum_redemption
            with problems.catch():
                minimum_minor = parse_money(
                    amount,
                    amount_currency,
                    program_currency=currency,
                    field=["input", "minimumRedemption"],
                ).minor
        maxima: dict[str, int] = {}
        for name, field, given in (
            ("max_purchase_total_minor", "maxPurchaseTotal", max_purchase_total),
            ("max_redemption_amount_minor", "maxRedemptionAmount", max_redemption_amount),
        ):
            if given is None:
                continue
            with problems.catch():
                maxima[name] = _positive_minor(given, currency, field=["input", field])
        if marketing_messages_per_week is not None and not (
            0 <= marketing_messages_per_week <= MAX_MARKETING_MESSAGES_PER_WEEK
        ):
            problems.add(
                InvalidInput(
                    f"Between 0 and {MAX_MARKETING_MESSAGES_PER_WEEK}.",
                    field=["input", "marketingMessagesPerWeek"],
                )
            )
        if terms is not None and not terms.strip():
            problems.add(InvalidInput("The terms must not be empty.", field=["input", "terms"]))
        problems.raise_any()

        row.currency_code = currency
        row.minimum_redemption_minor = minimum_minor
        for name, minor in maxima.items():
            setattr(row, name, minor)
        if pending_days is not None:
            row.pending_days = pending_days
        if credit_validity_days is not None:
            row.credit_validity_days = credit_validity_days
        if max_redemption_share is not None:
            row.max_redemption_share = max_redemption_share
        if marketing_messages_per_week is not None:
            row.marketing_messages_per_week = marketing_messages_per_week
        if terms is not None:
            await _new_terms_version(row, terms.strip())
        row.updated_at = clock.now()
        await row.save()
        await cache.changed(_program.name)
    # From the row saved, not the cache: another request may refill it with the previous
    # settings until the change's notice arrives.
    return _program_of(row)


async def _new_currency(current: str, asked: str | None, problems: InputErrors) -> str:
    """The currency after the update: the one asked for, if known and nothing was stored in
    the current one yet."""
    if asked is None or asked == current:
        return current
    if not is_known_currency(asked):
        problems.add(InvalidInput("Unknown currency.", field=["input", "currencyCode"]))
        return current
    if await _money_has_moved():
        problems.add(CurrencyLocked(field=["input", "currencyCode"]))
        return current
    return asked


async def _money_has_moved() -> bool:
    """Whether any purchase, credit or redemption exists: their amounts are stored in
    the program's currency."""
    # Imported here: the ledger and cashback build on the program, not the other way round.
    from app import ledger
    from app.cashback import purchases

    return await ledger.has_entries() or await purchases.any_recorded()


def _check_periods_and_share(
    pending_days: int | None,
    credit_validity_days: int | None,
    max_redemption_share: Decimal | None,
    problems: InputErrors,
) -> None:
    if pending_days is not None and not 0 <= pending_days <= 365:
        problems.add(InvalidInput("Between 0 and 365 days.", field=["input", "pendingDays"]))
    if credit_validity_days is not None and not 1 <= credit_validity_days <= 3650:
        problems.add(
            InvalidInput("Between 1 and 3650 days.", field=["input", "creditValidityDays"])
        )
    if max_redemption_share is not None and not _is_share(max_redemption_share):
        problems.add(
            InvalidInput(
                "A share above 0 and at most 1, with at most 4 decimals.",
                field=["input", "maxRedemptionShare"],
            )
        )


async def _new_terms_version(row: ProgramSettings, text: str) -> None:
    """A terms text that differs from the current one becomes the next version."""
    current = await TermsVersion.get_or_none(version=row.terms_version)
    if current is None or current.text != text:
        row.terms_version += 1
        await TermsVersion.create(version=row.terms_version, text=text, created_at=clock.now())


def _positive_minor(given: tuple[Decimal, str], currency: str, *, field: list[str]) -> int:
    amount, amount_currency = given
    minor = parse_money(amount, amount_currency, program_currency=currency, field=field).minor
    if minor <= 0:
        raise InvalidAmount("A maximum is above zero.", field=field)
    return minor


def _is_share(value: Decimal) -> bool:
    try:
        return Decimal(0) < value <= Decimal(1) and value == value.quantize(Decimal("0.0001"))
    except InvalidOperation:
        return False
