from __future__ import annotations

from app.core.errors import DomainError, ErrorCode, NotFound


class UnknownOffer(NotFound):
    default_message = "No offer has this id."


class OfferNotEligible(DomainError):
    code = ErrorCode.OFFER_NOT_ELIGIBLE
    default_message = "This offer is not open to you now."


class OfferExpired(DomainError):
    code = ErrorCode.OFFER_EXPIRED
    default_message = "This offer has ended."


class OfferNotAvailable(DomainError):
    """An offer a purchase was about to use ran out (its budget or the customer's uses)
    or stopped between reading and writing; the purchase is computed again without it."""

    code = ErrorCode.OFFER_NOT_AVAILABLE
    default_message = "This offer is no longer available."


class UnknownCategory(DomainError):
    code = ErrorCode.UNKNOWN_CATEGORY
    default_message = "No product of the catalogue is in this category."


class EmptyAudience(DomainError):
    code = ErrorCode.EMPTY_AUDIENCE
    default_message = "No customer can ever be in this audience."
