"""The ledger's expected failures."""

from __future__ import annotations

from app.core.errors import DomainError, ErrorCode


class InsufficientBalance(DomainError):
    code = ErrorCode.INSUFFICIENT_BALANCE
    default_message = "The available balance is too low for this amount."


class ReservationClosed(DomainError):
    code = ErrorCode.REDEMPTION_NOT_OPEN
    default_message = "This reservation is no longer open."


class UnknownReservation(DomainError):
    code = ErrorCode.NOT_FOUND
    default_message = "No reservation has this key."


class ReservationExpired(ReservationClosed):
    code = ErrorCode.REDEMPTION_EXPIRED
    default_message = "This reservation has expired."


class WalletTotalTooLarge(DomainError):
    code = ErrorCode.INVALID_AMOUNT
    default_message = "This credit would take the balance beyond what a wallet may hold."
