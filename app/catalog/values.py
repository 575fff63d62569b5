"""Values of the catalogue that other features keep too (a purchase's or a redemption's
channel is its store's)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Channel(StrEnum):
    """Where a store sells, so where a purchase happens."""

    ONLINE = "ONLINE"
    IN_STORE = "IN_STORE"


def channels_text(channels: Sequence[Channel] | None) -> str | None:
    """Channels as a rule or an offer stores them: comma-separated in a fixed order, None
    for all of them (or none given)."""
    if not channels:
        return None
    chosen = {Channel(c) for c in channels}
    if chosen == set(Channel):
        return None
    return ",".join(c.value for c in Channel if c in chosen)
