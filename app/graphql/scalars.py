"""Money, dates and pages as the contract shows them, and the bounds every input value
meets before anything runs.

Every string a client sends (a variable or a literal in the document) is checked here:
no NUL or other control character but tab, new line and carriage return, no lone
surrogate, at most `MAX_STRING_LENGTH` characters. An `ID` is at most `MAX_ID_LENGTH`
ASCII characters; a `Decimal` is plain decimal text (`-?[0-9]+(.[0-9]+)?`, at most
`MAX_DECIMAL_LENGTH` characters: no exponent, no underscores, no other digits, no NaN).

graphql-core reserves the names `String` and `ID`, so those two keep graphql-core's own
scalars and are checked by type where values enter: variables before execution
(`bounded_executor`, a refusal is INVALID_INPUT at the variable's path) and literals during
validation (`bounded_literals`, GRAPHQL_VALIDATION_FAILED at the literal). `Decimal` is
replaced outright (`decimal_scalar`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, NewType, TypeVar

import dateutil.parser
import orjson
import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputType,
    GraphQLSchema,
    IntValueNode,
    StringValueNode,
    ValidationRule,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    is_input_type,
    is_list_type,
)
from graphql.utilities import get_operation_ast, type_from_ast
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.scalar import ScalarDefinition, scalar

from app.core.errors import InvalidInput
from app.core.money import Money as MoneyValue
from app.core.pagination import Page
from app.graphql.errors import VALIDATION_FAILED
from app.settings import Settings

T = TypeVar("T")

MAX_ID_LENGTH = 100
MAX_DECIMAL_LENGTH = 30
# Refusals reported for one request: enough to fix a form, not a flood.
MAX_REFUSALS = 20

# C0 control characters but tab, line feed and carriage return; and any surrogate code
# point (a str holds one only when it came unpaired).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_ID_TEXT = re.compile(r"[\x20-\x7e]*", re.ASCII)


class InputBounds:
    """The checks of one schema, made from its settings."""

    def __init__(self, max_string_length: int) -> None:
        self.max_string_length = max_string_length

    def text_problem(self, value: str) -> str | None:
        if len(value) > self.max_string_length:
            return f"At most {self.max_string_length} characters."
        if _FORBIDDEN.search(value):
            return "Control characters and unpaired surrogates are not allowed."
        return None

    def id_problem(self, value: str | int) -> str | None:
        text = str(value)
        if len(text) > MAX_ID_LENGTH or not _ID_TEXT.fullmatch(text):
            return "Not an id of this API."
        return None

    def decimal_problem(self, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return 'A decimal is sent as a string such as "12.50".'
        text = str(value)
        if len(text) > MAX_DECIMAL_LENGTH or not _PLAIN_DECIMAL.fullmatch(text):
            return f'A decimal is plain digits such as "12.50", at most {MAX_DECIMAL_LENGTH}.'
        return None

    def datetime_problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return None  # graphql-core refuses it by type
        return self.text_problem(value) or (None if _parse_datetime(value) else _BAD_TIME)

    def problem(self, type_name: str, value: object) -> str | None:
        """What is wrong with `value` sent for the scalar `type_name`, if anything. A value
        of the wrong JSON kind is left to graphql-core, which refuses it by type."""
        if type_name == "Decimal":
            return None if isinstance(value, bool) else self.decimal_problem(value)
        if type_name == "DateTime":
            return self.datetime_problem(value)
        if type_name == "ID" and isinstance(value, str | int) and not isinstance(value, bool):
            return self.id_problem(value) or (
                self.text_problem(value) if isinstance(value, str) else None
            )
        if isinstance(value, str):
            return self.text_problem(value)
        return None

    def refusals(
        self, value: Any, type_: GraphQLInputType, path: list[str]
    ) -> Iterator[tuple[list[str], str]]:
        """(path, problem) of each leaf of a variable's raw value that is out of bounds."""
        nullable = get_nullable_type(type_)
        if value is None:
            return
        if is_list_type(nullable):
            item_type = nullable.of_type
            if isinstance(value, list):
                for index, item in enumerate(value):
                    yield from self.refusals(item, item_type, [*path, str(index)])
            else:  # a single value stands for a list of one
                yield from self.refusals(value, item_type, path)
        elif is_input_object_type(nullable):
            if isinstance(value, dict):
                for name, field in nullable.fields.items():
                    if name in value:
                        yield from self.refusals(value[name], field.type, [*path, name])
        else:
            problem = self.problem(get_named_type(nullable).name, value)
            if problem:
                yield path, problem

    def variable_refusals(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        raw_values: dict[str, Any] | None,
        operation_name: str | None,
    ) -> list[GraphQLError]:
        operation = get_operation_ast(document, operation_name)
        if operation is None or not raw_values:
            return []
        errors: list[GraphQLError] = []
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            type_ = type_from_ast(schema, definition.type)
            if name not in raw_values or type_ is None or not is_input_type(type_):
                continue
            for path, problem in self.refusals(raw_values[name], type_, [name]):
                refusal = InvalidInput(problem, field=path)
                errors.append(GraphQLError(problem, definition, original_error=refusal))
                if len(errors) >= MAX_REFUSALS:
                    return errors
        return errors


def bounded_executor(bounds: InputBounds) -> type[StrawberryGraphQLCoreExecutionContext]:
    """The executor that refuses out-of-bounds variables before anything runs."""

    class BoundedInputExecutor(StrawberryGraphQLCoreExecutionContext):
        @classmethod
        def build(
            cls,
            schema: GraphQLSchema,
            document: DocumentNode,
            root_value: Any = None,
            context_value: Any = None,
            raw_variable_values: dict[str, Any] | None = None,
            operation_name: str | None = None,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            refused = bounds.variable_refusals(
                schema, document, raw_variable_values, operation_name
            )
            if refused:
                return refused
            return super().build(
                schema,
                document,
                root_value,
                context_value,
                raw_variable_values,
                operation_name,
                *args,
                **kwargs,
            )

    return BoundedInputExecutor


def bounded_literals(bounds: InputBounds) -> type[ValidationRule]:
    """The validation rule that refuses out-of-bounds literals written in the document
    (Decimal and DateTime literals are refused by their scalars themselves)."""

    class BoundedLiterals(ValidationRule):
        def _check(self, node: StringValueNode | IntValueNode, value: str | int) -> None:
            type_ = self.context.get_input_type()
            type_name = get_named_type(type_).name if type_ is not None else ""
            if type_name in ("Decimal", "DateTime"):  # their scalars refuse them
                return
            problem = bounds.problem(type_name, value)
            if problem:
                self.report_error(
                    GraphQLError(problem, node, extensions={"code": VALIDATION_FAILED})
                )

        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            self._check(node, node.value)

        def enter_int_value(self, node: IntValueNode, *_: Any) -> None:
            type_ = self.context.get_input_type()
            if type_ is not None and get_named_type(type_).name == "ID":
                self._check(node, node.value)

    return BoundedLiterals


def decimal_scalar(bounds: InputBounds) -> ScalarDefinition:
    """`Decimal` as plain decimal text, replacing strawberry's (which takes whatever
    Python's Decimal takes: exponents, underscores, other scripts' digits, NaN)."""

    def parse(value: object) -> Decimal:
        problem = bounds.decimal_problem(value)
        if problem:
            raise GraphQLError(problem)
        return Decimal(str(value))

    return scalar(
        name="Decimal",
        description="Decimal (fixed-point)",
        serialize=str,
        parse_value=parse,
    )


_BAD_TIME = "An ISO 8601 time with an offset, between the years 1900 and 9999."
EARLIEST_YEAR = 1900


def _parse_datetime(text: str) -> datetime | None:
    """The time `text` says, if it is one the database can hold in UTC."""
    if len(text) > 40:
        return None
    try:
        value = dateutil.parser.isoparse(text)
        in_utc = value.astimezone(UTC) if value.tzinfo is not None else value
    except (ValueError, OverflowError):
        return None
    return value if in_utc.year >= EARLIEST_YEAR else None


def datetime_scalar(bounds: InputBounds) -> ScalarDefinition:
    """`DateTime` as strawberry reads it (ISO 8601), refusing times that overflow once in
    UTC (9999-12-31T23:59-23:00) or that no record of ours can be (before 1900)."""

    def parse(value: object) -> datetime:
        if not isinstance(value, str):
            raise GraphQLError(_BAD_TIME)
        parsed = _parse_datetime(value)
        if parsed is None:
            raise GraphQLError(_BAD_TIME)
        return parsed

    return scalar(
        name="DateTime",
        description="Date with time (isoformat)",
        serialize=datetime.isoformat,
        parse_value=parse,
    )


def input_bounds(settings: Settings) -> InputBounds:
    return InputBounds(max_string_length=settings.max_string_length)


@strawberry.type(description='An exact amount: `amount` is a decimal string such as "12.50".')
class Money:
    amount: Decimal
    currency_code: str

    @classmethod
    def of(cls, value: MoneyValue) -> Money:
        return cls(amount=value.amount, currency_code=value.currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls.of(MoneyValue.from_minor(minor, currency))


@strawberry.input
class MoneyInput:
    amount: Decimal
    currency_code: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[Any], nodes: list[T]) -> Connection[T]:
        """A connection of `nodes`, built from the `page` they were mapped from."""
        return cls(
            edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


# A JSON value sent as input is at most this deep and this long once encoded: the scalar is
# meant for answers (an export), and input must stay bounded like every other scalar.
MAX_JSON_DEPTH = 10
MAX_JSON_INPUT_BYTES = 10_000


def _json_depth(value: object, depth: int = 0) -> int:
    if depth > MAX_JSON_DEPTH:
        return depth
    if isinstance(value, dict):
        return max((_json_depth(v, depth + 1) for v in value.values()), default=depth + 1)
    if isinstance(value, list):
        return max((_json_depth(v, depth + 1) for v in value), default=depth + 1)
    return depth


def _parse_json(value: object) -> object:
    if _json_depth(value) > MAX_JSON_DEPTH:
        raise GraphQLError(f"A JSON value may nest at most {MAX_JSON_DEPTH} levels.")
    if len(orjson.dumps(value)) > MAX_JSON_INPUT_BYTES:
        raise GraphQLError(f"A JSON value may be at most {MAX_JSON_INPUT_BYTES:,} bytes.")
    return value


# The type resolvers annotate with; its scalar is `json_scalar` (see app/graphql/schema.py).
JSON = NewType("JSON", object)


def json_scalar() -> ScalarDefinition:
    """`JSON`: any JSON value out; in, bounded in depth and size."""
    return scalar(
        name="JSON",
        description="A JSON value (an object, list, string, number, boolean or null).",
        serialize=lambda value: value,
        parse_value=_parse_json,
    )
