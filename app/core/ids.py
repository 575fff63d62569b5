"""Opaque global ids: `base64url("Type:pk")`, so clients never build or parse them."""

from __future__ import annotations

import base64
import binascii

from app.core.errors import NotFound

# Primary keys are PostgreSQL bigints at most: a larger key finds nothing rather than
# reaching the database, which would refuse it with an error.
MAX_PRIMARY_KEY = 2**63 - 1
# Far longer than any id of ours ("Type:pk" in base64); longer ones are not worth decoding.
MAX_GLOBAL_ID_LENGTH = 100


def encode_id(type_name: str, pk: int | str) -> str:
    raw = f"{type_name}:{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_any_id(global_id: str) -> tuple[str, str]:
    """(type name, primary key) of a global id; NotFound when it is not one of ours."""
    if len(global_id) > MAX_GLOBAL_ID_LENGTH or not global_id.isascii():
        raise NotFound("No object has this id.")
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotFound("No object has this id.") from None
    if not type_name or not pk:
        raise NotFound("No object has this id.")
    return type_name, pk


def primary_key(text: str) -> int | None:
    """The primary key written in `text` (ASCII digits, within bigint), else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    pk = int(text)
    return pk if 0 < pk <= MAX_PRIMARY_KEY else None


def decode_id(global_id: str, type_name: str) -> int:
    """The integer primary key behind an id of `type_name`; NotFound for any other id."""
    found_type, text = decode_any_id(global_id)
    pk = primary_key(text)
    if found_type != type_name or pk is None:
        raise NotFound(f"No {type_name} has this id.")
    return pk
