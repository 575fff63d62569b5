"""The schema, composed from each feature's `Query`, `Mutation` and `Subscription`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from graphql import ASTValidationRule
from strawberry.extensions import DisableIntrospection, ParserCache, ValidationCache
from strawberry.extensions.add_validation_rules import AddValidationRules
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from app.features import feature_modules
from app.graphql.context import EstablishCaller
from app.graphql.errors import hide_schema_names
from app.graphql.limits import limit_extensions
from app.graphql.metrics import OperationMetrics
from app.graphql.node import Node, NodeQuery
from app.graphql.scalars import (
    JSON,
    bounded_executor,
    bounded_literals,
    datetime_scalar,
    decimal_scalar,
    input_bounds,
    json_scalar,
)
from app.graphql.viewer import ViewerQuery
from app.settings import Settings

PARSE_CACHE_SIZE = 1_000
VALIDATION_CACHE_SIZE = 1_000


def _collect(kind: str, name: str) -> tuple[type, ...]:
    return tuple(getattr(m, name) for m in feature_modules(kind) if hasattr(m, name))


class AppSchema(strawberry.Schema):
    production = False

    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        # Errors are classified, masked and logged once, in app.graphql.errors.classify;
        # only the schema knows it serves production, where validation messages are generic.
        if self.production:
            for error in errors:
                hide_schema_names(error)


def build_schema(
    settings: Settings, *, extra_subscriptions: tuple[type, ...] = ()
) -> strawberry.Schema:
    """The schema of every feature; `extra_subscriptions` join the features' own (the
    WebSocket's tests bring one of their own)."""
    query = merge_types("Query", (NodeQuery, ViewerQuery, *_collect("queries", "Query")))
    mutations = _collect("mutations", "Mutation")
    subscriptions = (*_collect("subscriptions", "Subscription"), *extra_subscriptions)
    bounds = input_bounds(settings)
    # Made once here: the validation cache is keyed by the rule classes.
    literal_rules: list[type[ASTValidationRule]] = [bounded_literals(bounds)]
    extensions: list[Any] = [
        lambda: ParserCache(maxsize=PARSE_CACHE_SIZE),
        lambda: ValidationCache(maxsize=VALIDATION_CACHE_SIZE),
        lambda: AddValidationRules(literal_rules),
        *limit_extensions(settings),
        EstablishCaller,
        OperationMetrics,
    ]
    if settings.is_production:
        extensions.append(DisableIntrospection)
    schema = AppSchema(
        query=query,
        mutation=merge_types("Mutation", mutations) if mutations else None,
        subscription=merge_types("Subscription", subscriptions) if subscriptions else None,
        types=[Node],
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=settings.is_production,
            relay_max_results=settings.max_page_size,
        ),
        scalar_overrides={
            Decimal: decimal_scalar(bounds),
            datetime: datetime_scalar(bounds),
            JSON: json_scalar(),
        },
        execution_context_class=bounded_executor(bounds),
    )
    schema.production = settings.is_production
    return schema


def schema_sdl() -> str:
    """The SDL that `schema.graphql` holds (the same in every environment)."""
    return build_schema(Settings(app_env="development")).as_str() + "\n"
