"""Trusted documents: the operations this service knows by their SHA-256.

The built-in ones are the client contract's operations, the dashboard's, the balance
alone (for widgets) and the admin's operations on trusted documents
(`trusted_documents.json` beside this file, printed by
`python -m app export-trusted-documents`); admins register more (app/trusted_documents).
A client may send a trusted document's hash alone (`extensions.persistedQuery.sha256Hash`),
and with `TRUSTED_DOCUMENTS_ONLY` nothing else runs.

A document's text is fixed by its source: the operation exactly as written in its file,
then each fragment it uses (transitively) in the order the file defines them, joined by a
blank line and ending with one newline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TypedDict

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    Node,
    OperationDefinitionNode,
    Source,
    parse,
    visit,
)
from graphql.language import Visitor

MANIFEST = Path(__file__).with_name("trusted_documents.json")
# The contract's operations, beside the repository (not shipped with the service).
DEFAULT_CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract"
# The service's own operations: the dashboard's page (sent by hash), the balance alone
# (for widgets) and the admin's management of trusted documents (which must run when only
# trusted documents may).
_APP = Path(__file__).resolve().parents[1]
OWN_DOCUMENTS = (
    _APP / "dashboard" / "documents.graphql",
    _APP / "ledger" / "documents.graphql",
    _APP / "trusted_documents" / "documents.graphql",
)


NOT_TRUSTED_MESSAGE = (
    "Only trusted documents run here: send the hash of a trusted document, or ask an admin "
    "to register this one."
)


class Entry(TypedDict):
    name: str
    document: str


def digest(text: str) -> str:
    """The SHA-256 of `text` in UTF-8, as hex (the key of a trusted document and of an
    automatic persisted query)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _load_manifest() -> dict[str, Entry]:
    entries: dict[str, Entry] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return entries


BUILT_IN: dict[str, Entry] = _load_manifest()


def is_built_in(sha256: str) -> bool:
    return sha256 in BUILT_IN


async def trusted_document(sha256: str) -> str | None:
    """The text of the trusted document with this hash (built-in or registered by an
    admin), or None."""
    entry = BUILT_IN.get(sha256)
    if entry is not None:
        return entry["document"]
    from app.trusted_documents import service as registered

    return await registered.registered_document(sha256)


async def is_trusted(sha256: str) -> bool:
    return await trusted_document(sha256) is not None


# --- building the manifest --------------------------------------------------------------


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _spread_names(node: Node) -> set[str]:
    spreads = _Spreads()
    visit(node, spreads)
    return spreads.names


def _text(source: str, node: Node) -> str:
    assert node.loc is not None
    return source[node.loc.start : node.loc.end]


def documents_of(source: str, *, where: str = "GraphQL") -> list[Entry]:
    """Each operation of one file as the text a client sends: the operation, then the
    fragments it uses in the file's order."""
    tree: DocumentNode = parse(Source(source, where))
    fragments = [d for d in tree.definitions if isinstance(d, FragmentDefinitionNode)]
    by_name = {f.name.value: f for f in fragments}
    entries: list[Entry] = []
    for operation in tree.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        if operation.name is None:
            raise ValueError(f"{where}: every operation needs a name")
        used: set[str] = set()
        pending = _spread_names(operation)
        while pending:
            name = pending.pop()
            if name in used:
                continue
            if name not in by_name:
                raise ValueError(f"{where}: fragment {name} is not defined in the file")
            used.add(name)
            pending |= _spread_names(by_name[name])
        parts = [_text(source, operation)]
        parts += [_text(source, f) for f in fragments if f.name.value in used]
        entries.append({"name": operation.name.value, "document": "\n\n".join(parts) + "\n"})
    return entries


def source_files(contract: Path) -> list[Path]:
    """The files the manifest is made of: the contract's, then the service's own."""
    return [*sorted(contract.rglob("*.graphql")), *OWN_DOCUMENTS]


def build_manifest(files: Iterable[Path]) -> dict[str, Entry]:
    manifest: dict[str, Entry] = {}
    for path in files:
        for entry in documents_of(path.read_text(encoding="utf-8"), where=str(path)):
            manifest.setdefault(digest(entry["document"]), entry)
    return dict(sorted(manifest.items(), key=lambda item: (item[1]["name"], item[0])))


def manifest_json(manifest: dict[str, Entry]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
