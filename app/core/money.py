"""Exact money: `Decimal` in code, integers of the currency's minor unit in the database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from app.core.errors import CurrencyMismatch, DomainError, InvalidAmount

# ISO 4217 minor units of the currencies a program may use.
MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "BRL": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "MXN": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "INR": 2,
    "CNY": 2,
    "ZAR": 2,
    "NZD": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "KWD": 3,
    "BHD": 3,
    "JOD": 3,
    "TND": 3,
}


# The largest amount a client may send, in minor units: far below what a bigint holds, so
# sums of many such amounts cannot overflow a column either.
MAX_MINOR = 10**15
# What a client's amount looks like as text: ASCII digits, an optional sign and fraction.
# (Python's Decimal also takes exponents, underscores, other scripts' digits and NaN.)
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise CurrencyMismatch(f"Unknown currency {currency!r}.") from None


def is_known_currency(currency: str) -> bool:
    return currency in MINOR_UNITS


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency. Refuses to mix currencies."""

    amount: Decimal
    currency: str

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0).scaleb(-minor_units(currency)), currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(minor).scaleb(-minor_units(currency)), currency)

    @classmethod
    def parse(
        cls, amount: Decimal | str | int, currency: str, *, allow_negative: bool = False
    ) -> Money:
        """Validate a client's amount: known currency, plain decimal text (or a finite
        Decimal), not negative, no excess decimals, at most `MAX_MINOR` minor units."""
        places = minor_units(currency)
        if isinstance(amount, str) and not PLAIN_DECIMAL.fullmatch(amount):
            raise InvalidAmount("The amount is not a number.")
        try:
            value = Decimal(amount)
        except (InvalidOperation, TypeError, ValueError):
            raise InvalidAmount("The amount is not a number.") from None
        if not value.is_finite():
            raise InvalidAmount("The amount is not a number.")
        if value < 0 and not allow_negative:
            raise InvalidAmount("The amount must not be negative.")
        # Checked before any arithmetic: 1e100000000 is finite, but no quantize survives it.
        if value and value.adjusted() + places >= len(str(MAX_MINOR)):
            raise InvalidAmount("The amount is too large.")
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            raise InvalidAmount(f"{currency} amounts have at most {places} decimals.")
        money = cls(value.quantize(Decimal(1).scaleb(-places)), currency)
        if abs(money.minor) > MAX_MINOR:
            raise InvalidAmount("The amount is too large.")
        return money

    @property
    def minor(self) -> int:
        return int(self.amount.scaleb(minor_units(self.currency)))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"Cannot combine {self.currency} and {other.currency}.")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def times(self, factor: Decimal) -> Money:
        """Multiply and round down to the minor unit (cashback is never rounded up)."""
        exact = self.amount * factor
        unit = Decimal(1).scaleb(-minor_units(self.currency))
        return Money(exact.quantize(unit, rounding=ROUND_DOWN), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def parse_money(
    amount: Decimal | str | int, currency: str, *, program_currency: str, field: Sequence[str]
) -> Money:
    """A client's amount, which must be in the program's currency (CurrencyMismatch) and a
    valid amount of it (see `Money.parse`); the error names the input `field`."""
    try:
        if currency != program_currency:
            raise CurrencyMismatch(f"Amounts are in the program's currency, {program_currency}.")
        return Money.parse(amount, currency)
    except DomainError as error:
        raise error.at(*field) from None
