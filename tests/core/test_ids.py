import pytest

from app.core.errors import NotFound
from app.core.ids import decode_id, encode_id


def test_ids_are_opaque_and_round_trip() -> None:
    global_id = encode_id("Merchant", 42)
    assert "Merchant" not in global_id and "42" not in global_id
    assert decode_id(global_id, "Merchant") == 42


@pytest.mark.parametrize(
    "bad", ["", "!!!", "bm90aGluZw", encode_id("Store", 1), encode_id("Merchant", "x")]
)
def test_an_id_of_another_type_or_garbage_is_not_found(bad: str) -> None:
    with pytest.raises(NotFound):
        decode_id(bad, "Merchant")
