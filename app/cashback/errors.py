"""The expected failures of earning. A store of another merchant is StoreNotAllowed, an
unknown one UnknownStore (app.catalog.errors); a reused key is IdempotencyKeyReused
(app.core.errors)."""

from __future__ import annotations

from app.core.errors import DomainError, ErrorCode


class UnknownCustomer(DomainError):
    code = ErrorCode.UNKNOWN_CUSTOMER
    default_message = "No customer matches this reference."


class CustomerDeleted(DomainError):
    code = ErrorCode.CUSTOMER_DELETED
    default_message = "This customer deleted their account: nothing more can be recorded for it."


class DuplicatePurchaseMismatch(DomainError):
    code = ErrorCode.DUPLICATE_PURCHASE_MISMATCH
    default_message = "This externalId was already recorded at this store with other details."


class ItemsTotalMismatch(DomainError):
    code = ErrorCode.ITEMS_TOTAL_MISMATCH
    default_message = "The items do not add up to the total."


class OccurredInFuture(DomainError):
    code = ErrorCode.OCCURRED_IN_FUTURE
    default_message = "occurredAt is in the future."


class UnknownPurchase(DomainError):
    code = ErrorCode.UNKNOWN_PURCHASE
    default_message = "No purchase has this externalId at this store."


class RefundExceedsPurchase(DomainError):
    code = ErrorCode.REFUND_EXCEEDS_PURCHASE
    default_message = "This is more than what is left to refund of the purchase."
