"""Money is exact: client amounts are validated, cashback rounds down, currencies never mix."""

from decimal import Decimal

import pytest

from app.core.errors import CurrencyMismatch, InvalidAmount
from app.core.money import Money


@pytest.mark.parametrize(
    ("amount", "currency", "expected_minor"),
    [
        ("12.5", "USD", 1250),
        ("12.50", "USD", 1250),
        ("0", "USD", 0),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("7.000", "USD", 700),
    ],
)
def test_valid_amounts_become_exact_minor_units(amount, currency, expected_minor) -> None:
    assert Money.parse(amount, currency).minor == expected_minor


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        ("-1.00", "USD", InvalidAmount),
        ("1.001", "USD", InvalidAmount),
        ("1.5", "JPY", InvalidAmount),
        ("NaN", "USD", InvalidAmount),
        ("Infinity", "USD", InvalidAmount),
        ("ten", "USD", InvalidAmount),
        ("1.00", "XYZ", CurrencyMismatch),
    ],
)
def test_invalid_amounts_are_refused_with_their_code(amount, currency, error) -> None:
    with pytest.raises(error):
        Money.parse(amount, currency)


def test_multiplying_rounds_down_to_the_minor_unit() -> None:
    assert Money.parse("9.99", "USD").times(Decimal("0.05")).amount == Decimal("0.49")
    assert Money.parse("0.19", "USD").times(Decimal("0.05")).amount == Decimal("0.00")


def test_two_currencies_never_add_up() -> None:
    with pytest.raises(CurrencyMismatch):
        Money.parse("1", "USD") + Money.parse("1", "EUR")
    assert (Money.parse("1.10", "EUR") + Money.parse("2.05", "EUR")).amount == Decimal("3.15")


def test_minor_units_round_trip() -> None:
    assert str(Money.from_minor(1999, "USD").amount) == "19.99"
    assert str(Money.zero("JPY").amount) == "0"
