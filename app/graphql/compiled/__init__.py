"""Compiled documents: a trusted document that clients send far more than any other is
answered by a specialised executor made for its exact selection, instead of parsing,
validating and resolving it field by field.

An executor either answers the plain success case (the same bytes the standard
execution would send) or falls back: the request then runs through standard execution
unchanged, so every error is the standard one by construction. `tests/graphql_compiled/`
proves both paths answer alike over generated data.

`executors(schema, settings)` is the registry a view keeps: document text -> executor,
empty under `COMPILED_DOCUMENTS=false`. A document is compiled only while it is a
built-in trusted document and passes the document limits that standard execution would
apply with any variables the executor accepts.
"""

from __future__ import annotations

import logging
from typing import Protocol

from graphql import GraphQLError, parse, specified_rules, validate
from strawberry.http import GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult

from app.graphql.context import Context
from app.graphql.cost import CostLimit
from app.graphql.limits import validation_rules
from app.graphql.persisted_queries import utf8
from app.graphql.trusted import digest, is_built_in
from app.settings import Settings

log = logging.getLogger(__name__)


class Executor(Protocol):
    """A compiled document."""

    name: str
    document: str

    def worst_variables(self, settings: Settings) -> dict[str, int]:
        """The variables that make the costliest run the executor accepts."""
        ...

    async def run(
        self, context: Context, request_data: GraphQLRequestData
    ) -> tuple[ExecutionResult | None, Context]:
        """The answer, or None to fall back; and the context standard execution is to use
        then (a fresh one when the attempt read more than the caller)."""
        ...


def _admitted(executor: Executor, schema: BaseSchema, settings: Settings) -> bool:
    """Whether standard execution would let the document run (its size, tokens, depth,
    aliases and validity, and its cost with the costliest variables the executor accepts):
    where it would refuse it, the refusal is its own."""
    text = executor.document
    if len(utf8(text)) > settings.max_document_bytes:
        return False
    try:
        document = parse(text, max_tokens=settings.max_tokens)
    except GraphQLError:
        return False
    graphql_schema = schema._schema  # type: ignore[attr-defined]
    if validate(graphql_schema, document, [*specified_rules, *validation_rules(settings)]):
        return False
    limit = CostLimit(max_cost=settings.max_query_cost, max_page_size=settings.max_page_size)
    cost = limit.cost(
        graphql_schema,
        document,
        operation_name=executor.name,
        variables=executor.worst_variables(settings),
    )
    return cost <= settings.max_query_cost


def executors(schema: BaseSchema, settings: Settings) -> dict[str, Executor]:
    """The compiled documents of a view, by their exact text."""
    if not settings.compiled_documents:
        return {}
    from app.graphql.compiled.balance import BalanceExecutor
    from app.graphql.compiled.home import HomeExecutor

    found: dict[str, Executor] = {}
    executor: Executor
    for executor in (HomeExecutor(), BalanceExecutor()):
        if not is_built_in(digest(executor.document)):
            # The contract changed and the manifest with it: this plan is for another text.
            log.warning("%s is not a trusted document: it runs uncompiled", executor.name)
        elif not _admitted(executor, schema, settings):
            log.info("%s is refused by the document limits: it runs uncompiled", executor.name)
        else:
            found[executor.document] = executor
    return found


__all__ = ["Executor", "executors"]
