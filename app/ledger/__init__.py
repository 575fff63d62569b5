"""The ledger: the only code that changes balances. Double entry, lots, wallets that
settle themselves, reservations.

Other features import this package (`from app import ledger`) and use only the names
below; the modules inside are the ledger's own."""

from app.ledger.errors import (
    InsufficientBalance,
    ReservationClosed,
    ReservationExpired,
    UnknownReservation,
    WalletTotalTooLarge,
)
from app.ledger.service import (
    MAX_WALLET_TOTAL,
    Balance,
    Entry,
    ProgramTotals,
    TakeBack,
    capture_reservation,
    credit,
    get_balance,
    get_entries,
    list_entries,
    program_totals,
    reconcile,
    release_reservation,
    reservation_status,
    reserve,
    settle_due_wallets,
    take_back,
)

__all__ = [
    "MAX_WALLET_TOTAL",
    "Balance",
    "Entry",
    "InsufficientBalance",
    "ProgramTotals",
    "ReservationClosed",
    "ReservationExpired",
    "TakeBack",
    "UnknownReservation",
    "WalletTotalTooLarge",
    "capture_reservation",
    "credit",
    "get_balance",
    "get_entries",
    "list_entries",
    "program_totals",
    "reconcile",
    "release_reservation",
    "reservation_status",
    "reserve",
    "settle_due_wallets",
    "take_back",
]
