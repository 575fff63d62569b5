"""The kinds of message, which of them are marketing, and which also go by email."""

from __future__ import annotations

from enum import StrEnum


class NotificationKind(StrEnum):
    # Service messages: always sent.
    CASHBACK_RECORDED = "CASHBACK_RECORDED"
    CREDITS_AVAILABLE = "CREDITS_AVAILABLE"
    CREDITS_EXPIRING = "CREDITS_EXPIRING"
    REDEMPTION_CAPTURED = "REDEMPTION_CAPTURED"
    TIER_REACHED = "TIER_REACHED"
    CASHBACK_TAKEN_BACK = "CASHBACK_TAKEN_BACK"
    # Marketing messages: only with marketing consent, within the weekly cap.
    SEGMENT_OFFER = "SEGMENT_OFFER"
    BIRTHDAY = "BIRTHDAY"
    POST_PURCHASE = "POST_PURCHASE"
    LAPSED_NUDGE = "LAPSED_NUDGE"


MARKETING_KINDS = frozenset(
    {
        NotificationKind.SEGMENT_OFFER,
        NotificationKind.BIRTHDAY,
        NotificationKind.POST_PURCHASE,
        NotificationKind.LAPSED_NUDGE,
    }
)

# Also sent by email: what costs the customer money if missed, and marketing.
EMAIL_KINDS = MARKETING_KINDS | {
    NotificationKind.CREDITS_EXPIRING,
    NotificationKind.REDEMPTION_CAPTURED,
    NotificationKind.CASHBACK_TAKEN_BACK,
}
