"""Domain errors: expected failures that carry a stable code.

Services raise these; `app/graphql/errors.py` maps them to `userErrors` or to
top-level errors in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code a mutation's `userErrors` can carry: one public, stable list."""

    # Input in general
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    CURRENCY_LOCKED = "CURRENCY_LOCKED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    RATE_LIMITED = "RATE_LIMITED"
    # Identity and sessions
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_EMAIL = "INVALID_EMAIL"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    TERMS_NOT_ACCEPTED = "TERMS_NOT_ACCEPTED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    INVALID_SCOPE = "INVALID_SCOPE"
    UNKNOWN_REFERRAL_CODE = "UNKNOWN_REFERRAL_CODE"
    # Catalogue, program and earning
    UNKNOWN_CUSTOMER = "UNKNOWN_CUSTOMER"
    CUSTOMER_DELETED = "CUSTOMER_DELETED"
    UNKNOWN_STORE = "UNKNOWN_STORE"
    UNKNOWN_MERCHANT = "UNKNOWN_MERCHANT"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    STORE_NOT_ALLOWED = "STORE_NOT_ALLOWED"
    DUPLICATE_PURCHASE_MISMATCH = "DUPLICATE_PURCHASE_MISMATCH"
    ITEMS_TOTAL_MISMATCH = "ITEMS_TOTAL_MISMATCH"
    OCCURRED_IN_FUTURE = "OCCURRED_IN_FUTURE"
    UNKNOWN_PURCHASE = "UNKNOWN_PURCHASE"
    REFUND_EXCEEDS_PURCHASE = "REFUND_EXCEEDS_PURCHASE"
    TOO_MANY_ITEMS = "TOO_MANY_ITEMS"
    # Redeeming
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    BELOW_MINIMUM = "BELOW_MINIMUM"
    ABOVE_MAXIMUM = "ABOVE_MAXIMUM"
    ALREADY_CAPTURED = "ALREADY_CAPTURED"
    REDEMPTION_NOT_OPEN = "REDEMPTION_NOT_OPEN"
    REDEMPTION_EXPIRED = "REDEMPTION_EXPIRED"
    INVALID_CODE = "INVALID_CODE"
    # Offers, inbox, privacy
    OFFER_NOT_AVAILABLE = "OFFER_NOT_AVAILABLE"
    OFFER_NOT_ELIGIBLE = "OFFER_NOT_ELIGIBLE"
    OFFER_EXPIRED = "OFFER_EXPIRED"
    UNKNOWN_CATEGORY = "UNKNOWN_CATEGORY"
    EMPTY_AUDIENCE = "EMPTY_AUDIENCE"
    INVALID_PASSWORD = "INVALID_PASSWORD"
    EXPORT_IN_PROGRESS = "EXPORT_IN_PROGRESS"


class DomainError(Exception):
    """An expected business failure, shown to the client as a userError."""

    code: ErrorCode = ErrorCode.INVALID_INPUT
    default_message: str = "The input is not valid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
        field: Sequence[str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.field = list(field) if field is not None else None
        super().__init__(self.message)

    def at(self, *path: str) -> DomainError:
        """The same error, attached to the input field at `path`."""
        self.field = list(path)
        return self


class DomainErrors(Exception):
    """Several input problems found at once, all reported to the client."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(e.message for e in self.errors))


class InputErrors:
    """The one way a service collects the problems of one input, each at its field
    path, to report them all together rather than one per attempt.

        problems = InputErrors()
        with problems.catch():
            name = clean_text(...)          # a DomainError here is collected
        if not accepted:
            problems.add(TermsNotAccepted(field=["input", "acceptTerms"]))
        problems.raise_any()                # DomainErrors with all of them, if any
    """

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def add(self, error: DomainError) -> None:
        self.errors.append(error)

    @contextmanager
    def catch(self, *path: str) -> Iterator[None]:
        """Collect a DomainError raised inside; with `path`, attach it to that field."""
        try:
            yield
        except DomainError as error:
            self.errors.append(error.at(*path) if path else error)
        except DomainErrors as many:
            self.errors.extend(many.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_any(self) -> None:
        if self.errors:
            raise DomainErrors(self.errors)


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND
    default_message = "No such object."


class InvalidInput(DomainError):
    code = ErrorCode.INVALID_INPUT


class InvalidAmount(DomainError):
    code = ErrorCode.INVALID_AMOUNT
    default_message = "The amount is not valid."


class CurrencyMismatch(DomainError):
    code = ErrorCode.CURRENCY_MISMATCH
    default_message = "The amount is not in the program's currency."


class CurrencyLocked(DomainError):
    code = ErrorCode.CURRENCY_LOCKED
    default_message = (
        "The currency cannot change once money has moved: stored amounts would be read"
        " in the wrong currency."
    )


class TooManyItems(DomainError):
    code = ErrorCode.TOO_MANY_ITEMS
    default_message = "Too many items in one request."


class IdempotencyKeyReused(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    default_message = "This idempotency key was already used with other input."


class AccessError(Exception):
    """A failure of authentication or permission: a top-level GraphQL error."""

    code: str = "FORBIDDEN"
    default_message: str = "You may not do this."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class Unauthenticated(AccessError):
    code = "UNAUTHENTICATED"
    default_message = "Sign in to do this."


class Forbidden(AccessError):
    code = "FORBIDDEN"
    default_message = "You may not do this."


class RateLimited(AccessError):
    code = "RATE_LIMITED"
    default_message = "Too many attempts; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)
