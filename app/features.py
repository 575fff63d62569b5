"""The features at the top of `app/`, found by their folders, so adding one needs no
registry edit: its models, queries, mutations, viewer fields and routes join in."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from types import ModuleType

_NOT_FEATURES = {"core", "graphql", "migrations"}
_ROOT = Path(__file__).parent


@cache
def feature_names() -> tuple[str, ...]:
    return tuple(
        sorted(
            info.name
            for info in pkgutil.iter_modules([str(_ROOT)])
            if info.ispkg and info.name not in _NOT_FEATURES
        )
    )


def feature_modules(kind: str) -> list[ModuleType]:
    """`app.<feature>.<kind>` for every feature that has one, in a stable order."""
    modules = []
    for name in feature_names():
        if (_ROOT / name / f"{kind}.py").exists():
            modules.append(importlib.import_module(f"app.{name}.{kind}"))
    return modules
