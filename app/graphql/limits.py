"""Depth, alias, token and cost limits, built once at start-up so the validation cache
keeps working (a rule class made per request would defeat it)."""

from __future__ import annotations

from collections.abc import Callable

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    ValidationContext,
    Visitor,
    visit,
)
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


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories. The rule classes are made here, once: the validation cache
    is keyed by them, so new classes per request would make every request a miss."""
    limiters = [
        QueryDepthLimiter(max_depth=settings.max_query_depth),
        MaxAliasesLimiter(max_alias_count=settings.max_aliases),
    ]
    rules = [
        _reports_too_complex(rule) for limiter in limiters for rule in limiter.validation_rules
    ]
    # MAX_PAGE_SIZE caps every listing's page (app.core.pagination.page_size) too.
    cost = CostLimit(max_cost=settings.max_query_cost, max_page_size=settings.max_page_size)
    return [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        # After the ValidationCache (see build_schema): only a valid document is costed.
        lambda: QueryCostLimiter(cost),
    ]
