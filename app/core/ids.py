"""Opaque global ids: `base64url("Type:pk")`, so clients never build or parse them."""

from __future__ import annotations

import base64
import binascii

from app.core.errors import NotFound


def encode_id(type_name: str, pk: int | str) -> str:
    raw = f"{type_name}:{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_any_id(global_id: str) -> tuple[str, str]:
    """(type name, primary key) of a global id; NotFound when it is not one of ours."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotFound("No object has this id.") from None
    if not type_name or not pk:
        raise NotFound("No object has this id.")
    return type_name, pk


def decode_id(global_id: str, type_name: str) -> int:
    """The integer primary key behind an id of `type_name`; NotFound for any other id."""
    found_type, pk = decode_any_id(global_id)
    if found_type != type_name or not pk.isdigit() or len(pk) > 18:
        raise NotFound(f"No {type_name} has this id.")
    return int(pk)
