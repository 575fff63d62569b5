"""A document's cost: the worst-case number of objects it can return, counted before any
resolver runs and refused over a budget (like GitHub's node limit).

- A connection, or a list with a `first` argument, multiplies everything under it by its
  `first` (a literal, a variable's value, or the argument's default), at most the largest
  page size. The page inside a connection (`edges`) is not counted again.
- A list without `first` (a merchant's stores, a purchase's items) counts as a full page.
- Each alias is a field of its own; fragments count where they are spread.
- Scalars, and objects that are not in a list, cost nothing beyond their parent.
  Introspection (`__schema`, `__type`) is answered from memory and not counted.

The cost is computed after validation, per request, not as a validation rule: a `first`
given by a variable is known only with the request's variables, and the validation cache
is keyed by the document alone. The walk is linear in the document (each fragment is
costed once) and the document is bounded by the token limit, so it is cheap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from app.graphql.errors import QUERY_TOO_COMPLEX

PAGE_SIZE_ARGUMENT = "first"


@dataclass(frozen=True, slots=True)
class CostLimit:
    """The budget and the largest page; made once at start-up."""

    max_cost: int
    max_page_size: int

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        *,
        operation_name: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> int:
        """The cost of the operation that would run (of the costliest one when the name
        does not pick one: execution refuses such a document anyway)."""
        walk = _CostWalk(schema, document, variables or {}, self.max_page_size)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [
            op
            for op in operations
            if operation_name is None or (op.name is not None and op.name.value == operation_name)
        ]
        return max((walk.operation(op) for op in chosen or operations), default=0)

    def refusal(self, cost: int) -> GraphQLError:
        return GraphQLError(
            f"This query may return up to {cost:,} objects, over the limit of "
            f"{self.max_cost:,}. Ask for smaller pages (first) or fewer nested lists.",
            extensions={"code": QUERY_TOO_COMPLEX, "cost": cost, "maxCost": self.max_cost},
        )


class QueryCostLimiter(SchemaExtension):
    """Refuses a validated document whose cost is over the budget, before execution.

    Listed after the ValidationCache: its `on_validate` runs first and leaves the
    validation errors on the context; an invalid document is not costed."""

    def __init__(self, limit: CostLimit) -> None:
        self.limit = limit

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        errors = context.pre_execution_errors
        if errors is None:
            raise RuntimeError("the query cost must be computed after validation")
        if not errors and context.graphql_document is not None:
            cost = self.limit.cost(
                context.schema._schema,
                context.graphql_document,
                operation_name=context.operation_name,
                variables=context.variables,
            )
            if cost > self.limit.max_cost:
                context.pre_execution_errors = [self.limit.refusal(cost)]
        yield


def _is_connection(graphql_type: Any) -> bool:
    fields = getattr(graphql_type, "fields", None)
    return fields is not None and "edges" in fields and "pageInfo" in fields


class _CostWalk:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        max_page_size: int,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.max_page_size = max_page_size
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variable_defaults: dict[str, ValueNode | None] = {}
        self.fragment_costs: dict[str, int] = {}
        self.open_fragments: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        self.variable_defaults = {
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        }
        self.fragment_costs = {}  # a fragment's cost depends on the operation's variables
        return self.selections(root, operation.selection_set)

    def selections(self, parent_type: Any, selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent_type, selection)
            elif isinstance(selection, InlineFragmentNode):
                on = self.type_of(selection.type_condition, parent_type)
                total += self.selections(on, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        """Costed once per operation however often it is spread. A cycle (which validation
        refuses) or an unknown fragment counts nothing instead of looping."""
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.open_fragments:
            return 0
        self.open_fragments.add(name)
        try:
            on = self.type_of(definition.type_condition, None)
            cost = self.selections(on, definition.selection_set)
        finally:
            self.open_fragments.discard(name)
        self.fragment_costs[name] = cost
        return cost

    def field(self, parent_type: Any, node: FieldNode) -> int:
        if node.selection_set is None or node.name.value.startswith("__"):
            return 0
        fields = getattr(parent_type, "fields", None)
        field: GraphQLField | None = fields.get(node.name.value) if fields else None
        if field is None:
            return 0
        item_type = get_named_type(field.type)
        inner = self.selections(item_type, node.selection_set)
        returns_list = is_list_type(get_nullable_type(field.type))
        if returns_list and _is_connection(parent_type):
            return inner  # a connection's page: counted at the connection
        if returns_list or _is_connection(item_type) or PAGE_SIZE_ARGUMENT in field.args:
            size = self.page_size(field, node)
            return size * (1 + inner)
        return inner

    def page_size(self, field: GraphQLField, node: FieldNode) -> int:
        value: Any = Undefined
        for argument in node.arguments or ():
            if argument.name.value == PAGE_SIZE_ARGUMENT:
                value = self.value(argument.value)
        if value is Undefined and PAGE_SIZE_ARGUMENT in field.args:
            value = field.args[PAGE_SIZE_ARGUMENT].default_value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return self.max_page_size  # not known (or refused when coerced): a full page
        return max(0, min(value, self.max_page_size))

    def value(self, node: ValueNode) -> Any:
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            default = self.variable_defaults.get(name)
            # Absent without a default: a required variable is refused when coerced; a
            # full page is a safe bound either way.
            return None if default is None else self.value(default)
        return None

    def type_of(self, condition: NamedTypeNode | None, parent_type: Any) -> Any:
        return parent_type if condition is None else self.schema.get_type(condition.name.value)
