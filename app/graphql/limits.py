"""Depth, alias, token and cost limits, built once at start-up so the validation cache
keeps working (a rule class made per request would defeat it)."""

from __future__ import annotations

from collections.abc import Callable

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
    ValidationContext,
    Visitor,
    visit,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.add_validation_rules import AddValidationRules

from app.graphql.cost import CostLimit, QueryCostLimiter
from app.graphql.errors import QUERY_TOO_COMPLEX
from app.settings import Settings


def _tag(error: GraphQLError) -> GraphQLError:
    error.extensions = {**(error.extensions or {}), "code": QUERY_TOO_COMPLEX}
    return error


def _spreads_unknown_fragment(document: DocumentNode) -> bool:
    defined = {d.name.value for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    class Spreads(Visitor):
        unknown = False

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
            if node.name.value not in defined:
                self.unknown = True

    spreads = Spreads()
    visit(document, spreads)
    return spreads.unknown


# How often one response key may be asked for in one selection (fragments included): a
# few repeats are how fragments overlap; hundreds are an attack on validation, whose
# overlap check compares every pair of them (500 `viewer { id }` took a second).
MAX_FIELD_REPEATS = 10


def _most_repeated_field(document: DocumentNode) -> tuple[str, int]:
    """The response key asked for most often in one selection set, and how often, with
    inline fragments and fragment spreads merged into it as execution merges them."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    worst = ("", 0)

    def merge(selections: SelectionSetNode, counts: dict[str, int], spread: set[str]) -> None:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                counts[key] = counts.get(key, 0) + 1
            elif isinstance(selection, InlineFragmentNode):
                merge(selection.selection_set, counts, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in spread and name in fragments:
                    spread.add(name)  # spread once however often (and cycles end)
                    merge(fragments[name].selection_set, counts, spread)

    class Selections(Visitor):
        def enter_selection_set(self, node: SelectionSetNode, *_: object) -> None:
            nonlocal worst
            counts: dict[str, int] = {}
            merge(node, counts, set())
            for key, count in counts.items():
                if count > worst[1]:
                    worst = (key, count)

    visit(document, Selections())
    return worst


class RepeatedFieldsLimit(ASTValidationRule):
    """Refuses a document that repeats one field more than MAX_FIELD_REPEATS times in a
    selection. It checks when validation starts and aborts it, so the quadratic overlap
    check of graphql-core never sees such a document."""

    def enter_document(self, node: DocumentNode, *_: object) -> None:
        key, count = _most_repeated_field(node)
        if count > MAX_FIELD_REPEATS:
            raise ValidationAbortedError(
                f"'{key}' is asked for {count} times in one selection; "
                f"at most {MAX_FIELD_REPEATS}.",
                extensions={"code": QUERY_TOO_COMPLEX},
            )


def _reports_too_complex(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """The same rule, its errors carrying the QUERY_TOO_COMPLEX code."""

    # mypy cannot check a class whose base is given at run time.
    class TooComplex(rule):  # type: ignore[misc, valid-type]
        def __init__(self, context: ValidationContext) -> None:
            # strawberry's limiters report straight to the context from __init__.
            report = context.report_error

            def report_tagged(error: GraphQLError) -> None:
                report(_tag(error))

            if _spreads_unknown_fragment(context.document):
                # The limiters look fragments up without checking that they exist;
                # KnownFragmentNamesRule refuses such a document with its own error.
                ASTValidationRule.__init__(self, context)
                return
            # Swapped for the call: graphql-core declares it a method, as it does on_error.
            context.report_error = report_tagged  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                del context.report_error

        def report_error(self, error: GraphQLError) -> None:
            super().report_error(_tag(error))

    TooComplex.__name__ = f"TooComplex{rule.__name__}"
    return TooComplex


def validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The validation rules of the depth, alias and repeated-field limits."""
    limiters = [
        QueryDepthLimiter(max_depth=settings.max_query_depth),
        MaxAliasesLimiter(max_alias_count=settings.max_aliases),
    ]
    return [
        RepeatedFieldsLimit,
        *(_reports_too_complex(rule) for limiter in limiters for rule in limiter.validation_rules),
    ]


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories. The rule classes are made here, once: the validation cache
    is keyed by them, so new classes per request would make every request a miss."""
    rules = validation_rules(settings)
    # MAX_PAGE_SIZE caps every listing's page (app.core.pagination.page_size) too.
    cost = CostLimit(max_cost=settings.max_query_cost, max_page_size=settings.max_page_size)
    return [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        # After the ValidationCache (see build_schema): only a valid document is costed.
        lambda: QueryCostLimiter(cost),
    ]
