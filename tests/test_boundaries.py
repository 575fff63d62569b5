"""Each feature owns its tables and its private names: another feature (or the app's
shell) reaches it only through its public modules, never its `models` or a `_name`."""

from __future__ import annotations

import ast
from pathlib import Path

from app.features import feature_names

APP = Path(__file__).resolve().parents[1] / "app"
FEATURES = set(feature_names())


def _owner(path: Path) -> str | None:
    """The feature a file belongs to; None for the shared parts and the shell."""
    top = path.relative_to(APP).parts[0]
    return top if top in FEATURES else None


def _hidden(name: str) -> bool:
    return name == "models" or name.startswith("_")


class _Trespasses(ast.NodeVisitor):
    """Imports of another feature's models or private names, and attribute reads of a
    private name through an imported feature module."""

    def __init__(self, where: str, owner: str | None) -> None:
        self.where, self.owner = where, owner
        self.found: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> the feature's module or name

    def _foreign(self, module: str) -> bool:
        parts = module.split(".")
        return len(parts) >= 2 and parts[0] == "app" and parts[1] in FEATURES - {self.owner}

    def _report(self, line: int, what: str) -> None:
        self.found.append(f"{self.where}:{line} {what}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if self._foreign(alias.name) and any(map(_hidden, alias.name.split(".")[2:])):
                self._report(node.lineno, f"imports {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not (module == "app" or self._foreign(module)):
            return
        if module != "app" and any(map(_hidden, module.split(".")[2:])):
            self._report(node.lineno, f"imports {module}")
        for alias in node.names:
            if module == "app" and alias.name not in FEATURES - {self.owner}:
                continue
            if _hidden(alias.name):
                self._report(node.lineno, f"imports {alias.name} from {module}")
            else:
                self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = node.value.id if isinstance(node.value, ast.Name) else None
        if name in self.aliases and _hidden(node.attr):
            self._report(node.lineno, f"uses {self.aliases[name]}.{node.attr}")
        self.generic_visit(node)


def _trespasses(path: Path, owner: str | None) -> list[str]:
    where = str(path.relative_to(APP.parent)) if path.is_relative_to(APP) else path.name
    visitor = _Trespasses(where, owner)
    visitor.visit(ast.parse(path.read_text(), filename=str(path)))
    return visitor.found


def test_no_feature_reaches_into_another_features_models_or_private_names() -> None:
    files = [p for p in APP.rglob("*.py") if "migrations" not in p.relative_to(APP).parts]
    trespasses = [t for path in sorted(files) for t in _trespasses(path, _owner(path))]
    assert trespasses == []


def test_the_boundary_check_sees_each_way_in(tmp_path: Path) -> None:
    # The check itself must catch each form, or the test above proves nothing.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from app.accounts.models import User\n"
        "from app.ledger import _hidden\n"
        "from app import ledger\n"
        "ledger._run\n"
        "import app.catalog.models\n"
        "from app.cashback import models\n"  # its own feature: allowed
        "from app.ledger import credit\n"  # a public name: allowed
    )
    found = _trespasses(probe, "cashback")
    assert [line.split(":")[1].split()[0] for line in found] == ["1", "2", "4", "5"], found
