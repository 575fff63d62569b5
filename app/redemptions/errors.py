"""The expected failures of redeeming."""

from __future__ import annotations

from app.core.errors import DomainError, ErrorCode


class BelowMinimum(DomainError):
    code = ErrorCode.BELOW_MINIMUM
    default_message = "The amount is below the program's minimum redemption."


class AboveMaximum(DomainError):
    code = ErrorCode.ABOVE_MAXIMUM
    default_message = "Credits may pay only part of an order; the amount is above that share."


class UnknownRedemption(DomainError):
    code = ErrorCode.NOT_FOUND
    default_message = "No redemption has this id."


class InvalidCode(DomainError):
    code = ErrorCode.INVALID_CODE
    default_message = "No open redemption has this code."


class AlreadyCaptured(DomainError):
    code = ErrorCode.ALREADY_CAPTURED
    default_message = "This redemption was already captured for another order."


class RedemptionNotOpen(DomainError):
    code = ErrorCode.REDEMPTION_NOT_OPEN
    default_message = "This redemption is no longer open."


class RedemptionExpired(DomainError):
    code = ErrorCode.REDEMPTION_EXPIRED
    default_message = "This redemption has expired; its credits are available again."
