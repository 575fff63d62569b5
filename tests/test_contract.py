"""Every operation the clients ship (../shared/contract) validates against the schema."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    parse,
    validate,
    visit,
)
from graphql.language import Visitor

from app.graphql.schema import build_schema
from app.settings import Settings

CONTRACT_DIR = Path(
    os.environ.get("CONTRACT_DIR", Path(__file__).resolve().parents[2] / "shared" / "contract")
)

# Operations whose feature has not landed yet. Each feature removes its names as it lands;
# the list must end empty. (strict: an operation that starts passing must leave the list.)
NOT_YET_BUILT: set[str] = set()


class _FragmentSpreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node, *_args) -> None:
        self.names.add(node.name.value)


def _operations() -> list[tuple[str, str, DocumentNode]]:
    """(file, operation name, a document of that operation with the fragments it uses)."""
    found = []
    for path in sorted(CONTRACT_DIR.rglob("*.graphql")):
        document = parse(path.read_text())
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            needed: dict[str, FragmentDefinitionNode] = {}
            pending = [definition]
            while pending:
                spreads = _FragmentSpreads()
                visit(pending.pop(), spreads)
                for name in spreads.names - needed.keys():
                    needed[name] = fragments[name]
                    pending.append(fragments[name])
            own = DocumentNode(definitions=(definition, *needed.values()))
            found.append((str(path.relative_to(CONTRACT_DIR)), definition.name.value, own))
    return found


def _params() -> list[object]:
    if not CONTRACT_DIR.is_dir():
        return [
            pytest.param(
                None,
                None,
                None,
                marks=pytest.mark.skip(reason=f"no contract folder at {CONTRACT_DIR}"),
            )
        ]
    params = []
    for file, name, document in _operations():
        marks = []
        if name in NOT_YET_BUILT:
            marks.append(pytest.mark.xfail(reason="feature not built yet", strict=True))
        params.append(pytest.param(file, name, document, id=f"{file}:{name}", marks=marks))
    return params


@pytest.fixture(scope="module")
def graphql_schema():
    return build_schema(Settings(app_env="development"))._schema


@pytest.mark.parametrize(("file", "name", "document"), _params())
def test_contract_operation_validates(graphql_schema, file, name, document) -> None:
    errors = validate(graphql_schema, document)
    assert not errors, f"{file} {name}: " + "; ".join(e.message for e in errors)


def test_expected_failures_name_real_operations() -> None:
    if not CONTRACT_DIR.is_dir():
        pytest.skip(f"no contract folder at {CONTRACT_DIR}")
    names = {name for _, name, _ in _operations()}
    assert names >= NOT_YET_BUILT, f"not in the contract: {NOT_YET_BUILT - names}"
