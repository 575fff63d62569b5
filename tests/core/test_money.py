"""Money is exact: client amounts are validated, cashback rounds down, currencies never mix."""

from decimal import Decimal

import pytest

from app.core.errors import CurrencyMismatch, InvalidAmount
from app.core.money import MAX_MINOR, Money


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


@pytest.mark.parametrize(
    "text",
    [
        "1e25",
        "1E2",
        "1e100000000",
        "1e-100000000",
        "0x10",
        "\u0661\u0662",
        "1_000",
        "NaN",
        "Infinity",
        " 12",
        "+12",
        "12.",
        ".5",
        "",
    ],
)
def test_only_plain_decimal_text_is_an_amount(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "USD")


@pytest.mark.parametrize(
    "amount", ["10000000000000.01", "92233720368547758.07", Decimal("1e100000000")]
)
def test_an_amount_beyond_ten_to_the_fifteen_minor_units_is_refused(amount: object) -> None:
    with pytest.raises(InvalidAmount) as refused:
        Money.parse(amount, "USD")  # type: ignore[arg-type]
    assert refused.value.message == "The amount is too large."


def test_the_largest_amount_is_ten_to_the_fifteen_minor_units() -> None:
    assert Money.parse("10000000000000.00", "USD").minor == MAX_MINOR
    assert Money.parse("1000000000000000", "JPY").minor == MAX_MINOR
    with pytest.raises(InvalidAmount):
        Money.parse("1000000000000001", "JPY")
