"""schema.graphql is what `python -m app export-schema` prints."""

from pathlib import Path

from app.graphql.schema import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_schema_file_is_fresh() -> None:
    assert SCHEMA_FILE.read_text() == schema_sdl(), (
        "schema.graphql is stale: run `python -m app export-schema > schema.graphql`"
    )
