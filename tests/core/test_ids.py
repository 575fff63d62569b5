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


@pytest.mark.parametrize(
    "pk", [str(2**63), "9" * 40, "0", "-1", "\u00b2", "\u0661\u0662", "1 ", "0x10"]
)
def test_a_key_outside_bigint_or_not_plain_ascii_digits_is_not_found(pk: str) -> None:
    with pytest.raises(NotFound):
        decode_id(encode_id("Merchant", pk), "Merchant")


def test_the_largest_bigint_is_still_a_key() -> None:
    assert decode_id(encode_id("Merchant", 2**63 - 1), "Merchant") == 2**63 - 1


# Both would decode to Merchant 1 (base64 skips what is not in its alphabet): only the
# length and ASCII checks, before decoding, refuse them.
@pytest.mark.parametrize(
    "bad", [encode_id("Merchant", 1) + "." * 100, "TWVyY2hhbnQ6MQ€"], ids=["long", "non-ascii"]
)
def test_an_id_too_long_or_not_ascii_is_not_found_without_decoding(bad: str) -> None:
    with pytest.raises(NotFound):
        decode_id(bad, "Merchant")
