"""The built-in trusted documents: app/graphql/trusted_documents.json is what `python -m app
export-trusted-documents` prints from the contract and the service's own documents."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from graphql import parse, validate

from app.dashboard.routes import document_hashes
from app.graphql.schema import build_schema
from app.graphql.trusted import (
    BUILT_IN,
    MANIFEST,
    OWN_DOCUMENTS,
    build_manifest,
    digest,
    documents_of,
    manifest_json,
    source_files,
)
from app.settings import Settings
from tests.test_contract import CONTRACT_DIR

ROOT = Path(__file__).resolve().parents[2]


def _bench_home() -> str:
    """`HOME` of scripts/bench/home_docs.py: the text the Home benchmarks send."""
    spec = importlib.util.spec_from_file_location(
        "home_docs", ROOT / "scripts" / "bench" / "home_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.HOME)


def test_the_committed_manifest_is_fresh_against_the_contract() -> None:
    if not CONTRACT_DIR.is_dir():
        pytest.skip(f"no contract folder at {CONTRACT_DIR}: the manifest cannot be checked")
    expected = manifest_json(build_manifest(source_files(CONTRACT_DIR)))
    assert MANIFEST.read_text(encoding="utf-8") == expected, (
        "app/graphql/trusted_documents.json is stale: run "
        "`python -m app export-trusted-documents > app/graphql/trusted_documents.json`"
    )


def test_the_command_prints_the_manifest_and_refuses_a_missing_contract(tmp_path: Path) -> None:
    contract = tmp_path / "contract"
    (contract / "mobile").mkdir(parents=True)
    (contract / "mobile" / "me.graphql").write_text("# me\nquery Me { viewer { id } }\n")
    command = [sys.executable, "-m", "app", "export-trusted-documents"]
    printed = subprocess.run(
        [*command, "--contract", str(contract)], cwd=ROOT, capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    manifest = json.loads(printed.stdout)
    me = "query Me { viewer { id } }\n"
    assert manifest[hashlib.sha256(me.encode()).hexdigest()] == {"name": "Me", "document": me}
    # The service's own documents are there whatever the contract.
    assert {e["name"] for e in manifest.values()} >= {"DashboardMetrics", "RegisterTrustedDocument"}

    missing = subprocess.run(
        [*command, "--contract", str(tmp_path / "nowhere")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert "no contract folder" in missing.stderr


def test_home_as_mobile_clients_and_the_benchmarks_send_it_is_built_in() -> None:
    home = _bench_home()
    sha256 = hashlib.sha256(home.encode()).hexdigest()
    assert sha256 in BUILT_IN
    assert BUILT_IN[sha256] == {"name": "Home", "document": home}


def test_an_operation_is_its_text_then_the_fragments_it_uses_in_the_files_order() -> None:
    source = (
        "# a comment\n"
        "query A { viewer { ...Outer } }\n\n"
        "fragment Unused on Viewer { id }\n"
        "fragment Inner on Viewer { email }\n"
        "fragment Outer on Viewer { id ...Inner }\n"
        "query B { program { currencyCode } }\n"
    )
    assert documents_of(source) == [
        {
            "name": "A",
            "document": "query A { viewer { ...Outer } }\n\n"
            "fragment Inner on Viewer { email }\n\n"
            "fragment Outer on Viewer { id ...Inner }\n",
        },
        {"name": "B", "document": "query B { program { currencyCode } }\n"},
    ]
    with pytest.raises(ValueError, match="fragment Missing"):
        documents_of("query C { viewer { ...Missing } }")


def test_the_services_own_documents_are_built_in_without_the_contract() -> None:
    for path in OWN_DOCUMENTS:
        for entry in documents_of(path.read_text(encoding="utf-8")):
            assert BUILT_IN.get(digest(entry["document"])) == entry, (path, entry["name"])
    # What the dashboard's page sends is one of them.
    assert set(document_hashes().values()) <= set(BUILT_IN)
    assert set(document_hashes()) == {"SignIn", "RefreshSession", "SignOut", "DashboardMetrics"}


def test_every_built_in_document_validates_against_the_schema() -> None:
    schema = build_schema(Settings(app_env="test"))._schema
    for sha256, entry in BUILT_IN.items():
        assert digest(entry["document"]) == sha256
        assert validate(schema, parse(entry["document"])) == [], entry["name"]
