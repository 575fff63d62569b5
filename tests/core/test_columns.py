"""A client's string longer than its column is known not to match before any query."""

from __future__ import annotations

from app.accounts.models import User
from app.cashback.models import Purchase
from app.core.columns import fits_column, max_length


def test_the_bound_is_the_model_field_length() -> None:
    assert max_length(User, "member_code") == 16
    assert max_length(Purchase, "external_id") == 128
    assert max_length(Purchase, "id") is None


def test_a_value_fits_up_to_the_column_length() -> None:
    assert fits_column(User, "member_code", "A" * 16)
    assert not fits_column(User, "member_code", "A" * 17)
    assert fits_column(User, "email", None)
    assert fits_column(Purchase, "id", "anything")
