"""Values of the catalogue that other features keep too (a purchase's or a redemption's
channel is its store's)."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a store sells, so where a purchase happens."""

    ONLINE = "ONLINE"
    IN_STORE = "IN_STORE"
