"""Prometheus request counts and latency histograms per GraphQL operation name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from strawberry.extensions import SchemaExtension

REGISTRY = CollectorRegistry(auto_describe=True)

OPERATIONS = Counter(
    "graphql_operations_total",
    "GraphQL operations by name and outcome.",
    ["operation", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "graphql_operation_duration_seconds",
    "Time to answer a GraphQL operation.",
    ["operation"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)

# Operation names come from clients: keep the label set bounded.
_MAX_NAMES = 200
_seen_names: set[str] = set()


def _label(name: str | None) -> str:
    if not name:
        return "anonymous"
    name = name[:64]
    if name in _seen_names:
        return name
    if len(_seen_names) >= _MAX_NAMES:
        return "other"
    _seen_names.add(name)
    return name


# How compiled documents (app/graphql/compiled) fared: answered by their executor, or
# fallen back to standard execution (which then counts the operation itself).
COMPILED = Counter(
    "graphql_compiled_executions_total",
    "Requests for a compiled document, by whether its executor answered or fell back.",
    ["operation", "result"],
    registry=REGISTRY,
)


# Each label set's child, found once (`labels()` takes a lock and builds a key).
_operation_children: dict[tuple[str, str], tuple[Any, Any]] = {}


def record_operation(name: str | None, outcome: str, seconds: float) -> None:
    """Count one operation (`outcome` "ok" or "error") and its duration."""
    key = (_label(name), outcome)
    children = _operation_children.get(key)
    if children is None:
        children = (OPERATIONS.labels(*key), LATENCY.labels(key[0]))
        _operation_children[key] = children
    count, latency = children
    count.inc()
    latency.observe(seconds)


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            name = context.operation_name
        except RuntimeError:
            name = None
        result = context.result
        outcome = "error" if (context.pre_execution_errors or (result and result.errors)) else "ok"
        record_operation(name, outcome, time.perf_counter() - started)
