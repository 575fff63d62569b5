"""The one place where failures become what clients see.

- Expected business failures (DomainError) become `userErrors` on the mutation payload.
- Access failures become top-level errors with `extensions.code`.
- Malformed or over-limit documents get GRAPHQL_VALIDATION_FAILED / QUERY_TOO_COMPLEX;
  under TRUSTED_DOCUMENTS_ONLY an untrusted one gets DOCUMENT_NOT_TRUSTED (HTTP 400).
- A statement stopped at its timeout, or a database out of reach, is TIMEOUT or
  SERVICE_UNAVAILABLE (HTTP 503): the client may send the same request again.
- Anything else is masked as INTERNAL_SERVER_ERROR and logged with the request id.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import strawberry
from graphql import GraphQLError, GraphQLFormattedError

from app.core.errors import AccessError, DomainError, DomainErrors, ErrorCode, RateLimited
from app.db import outage_of

log = logging.getLogger("app.errors")

strawberry.enum(ErrorCode, name="ErrorCode")
ErrorCodeEnum = ErrorCode  # the GraphQL enum is the class itself, registered above

VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
INTERNAL = "INTERNAL_SERVER_ERROR"
TIMEOUT = "TIMEOUT"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
# Under TRUSTED_DOCUMENTS_ONLY, a document whose hash is not trusted (app/graphql/trusted.py).
DOCUMENT_NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"
# What the database's faults of the moment (app.db.outage_of) tell the client.
_OUTAGES = {
    "timeout": (TIMEOUT, "The operation took too long and was stopped; try again."),
    "unavailable": (SERVICE_UNAVAILABLE, "The service is briefly unavailable; try again."),
}
# An answer with no data whose every error has one of these codes is the client's fault as
# a whole: HTTP 400. INVALID_INPUT is a variable refused before execution (or a query whose
# input was refused before it could answer anything). DOCUMENT_NOT_TRUSTED is a document
# refused before parsing.
PRE_EXECUTION_CODES = frozenset(
    {VALIDATION_FAILED, QUERY_TOO_COMPLEX, DOCUMENT_NOT_TRUSTED, ErrorCode.INVALID_INPUT.value}
)


@strawberry.type(description="An expected failure: `field` is the path of the input at fault.")
class UserError:
    code: ErrorCodeEnum
    field: list[str] | None
    message: str

    @classmethod
    def of(cls, error: DomainError) -> UserError:
        return cls(code=ErrorCode(error.code), field=error.field, message=error.message)


def user_errors_of(error: DomainError | DomainErrors) -> list[UserError]:
    errors = error.errors if isinstance(error, DomainErrors) else [error]
    return [UserError.of(e) for e in errors]


P = ParamSpec("P")
R = TypeVar("R")


def returns_user_errors(
    payload: Callable[..., R],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a mutation resolver: a DomainError it raises becomes
    `payload(user_errors=[...])` instead of a top-level error."""

    def decorate(resolver: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(resolver)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await resolver(*args, **kwargs)
            except (DomainError, DomainErrors) as error:
                return payload(user_errors=user_errors_of(error))

        return wrapper

    return decorate


# graphql-core's parser says so when the token limit cuts a document short.
_TOKEN_LIMIT_MESSAGE = "Document contains more than"
_SYNTAX_ERROR = "Syntax Error"
GENERIC_VALIDATION_MESSAGE = "The operation does not match the schema."


def _before_execution(error: GraphQLError) -> bool:
    """graphql-core's own refusal of the document or of a variable (a coercion error wraps
    the scalar's error), as opposed to a failure while a field ran."""
    original = error.original_error
    if error.path is not None:
        return False
    # A literal the scalar cannot parse (an Int of 5,000 digits: Python's int refuses it
    # with ValueError) is reported by validation at its location, wrapping that error.
    literal_refused = bool(error.locations) and isinstance(original, ValueError)
    return original is None or isinstance(original, GraphQLError) or literal_refused


def hide_schema_names(error: GraphQLError) -> None:
    """In production, graphql-core's validation messages would name types, arguments and
    fields the client did not send ("Field 'x' argument 'y' of type 'Z!' is required"): the
    message becomes a generic one. The code and the locations stay."""
    if "code" in (error.extensions or {}) or not _before_execution(error):
        return
    if error.message.startswith(_SYNTAX_ERROR) or _TOKEN_LIMIT_MESSAGE in error.message:
        return
    node = error.nodes[0] if error.nodes else None
    variable = getattr(getattr(node, "variable", None), "name", None)
    if variable is not None and error.message.startswith(f"Variable '${variable.value}'"):
        error.message = f"Variable '${variable.value}' has an invalid value."
    else:
        error.message = GENERIC_VALIDATION_MESSAGE


def classify(error: GraphQLError, request_id: str | None) -> GraphQLFormattedError:
    """The JSON a client sees for `error`."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    message = error.message
    if isinstance(original, AccessError):
        extensions["code"] = original.code
        message = original.message
        if isinstance(original, RateLimited) and original.retry_after is not None:
            # Seconds to wait, for clients that back off without reading the message.
            extensions["retryAfter"] = original.retry_after
    elif isinstance(original, DomainError):
        extensions["code"] = str(original.code.value)
        message = original.message
        if original.field:
            extensions["field"] = original.field
    elif "code" in extensions:
        pass
    elif _before_execution(error):
        is_token_limit = _TOKEN_LIMIT_MESSAGE in message
        extensions["code"] = QUERY_TOO_COMPLEX if is_token_limit else VALIDATION_FAILED
    elif original is not None and (outage := outage_of(original)) is not None:
        log.warning(
            "database %s in %s: %s",
            outage,
            ".".join(str(p) for p in error.path or []) or "operation",
            repr(original),
        )
        code, message = _OUTAGES[outage]
        extensions = {"code": code}
    else:
        log.error(
            "unexpected error in %s",
            ".".join(str(p) for p in error.path or []) or "operation",
            exc_info=original or error,
        )
        extensions = {"code": INTERNAL}
        message = "Internal server error."
    if request_id and extensions.get("code") == INTERNAL:
        extensions["requestId"] = request_id
    formatted: GraphQLFormattedError = {"message": message, "extensions": extensions}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        formatted["path"] = error.path
    return formatted
