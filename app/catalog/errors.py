"""The expected failures of naming merchants and stores, also raised by the features that
take a merchant or a store as input (cashback, redemptions, partner clients)."""

from __future__ import annotations

from app.core.errors import DomainError, ErrorCode


class UnknownMerchant(DomainError):
    code = ErrorCode.UNKNOWN_MERCHANT
    default_message = "No merchant has this id."


class UnknownStore(DomainError):
    code = ErrorCode.UNKNOWN_STORE
    default_message = "No store has this id."


class UnknownProduct(DomainError):
    code = ErrorCode.UNKNOWN_PRODUCT
    default_message = "No product has this id."


class StoreNotAllowed(DomainError):
    code = ErrorCode.STORE_NOT_ALLOWED
    default_message = "This store belongs to another merchant."
