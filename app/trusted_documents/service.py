"""Trusted documents registered by admins: each must parse and validate against the
schema, is bounded like any document, and is known by the SHA-256 of its text. Every
process learns a registration or a removal as soon as it commits (`app.cache`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from graphql import GraphQLError, GraphQLSchema, parse, validate
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import cache
from app.cache import Cached
from app.core import clock
from app.core.errors import InvalidInput, NotFound
from app.graphql.trusted import BUILT_IN, digest, is_built_in
from app.trusted_documents.models import TrustedDocument

MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Document:
    sha256: str
    name: str
    document: str
    built_in: bool
    created_at: datetime | None


async def _load_registered() -> dict[str, str]:
    rows = await TrustedDocument.all().values_list("sha256", "document")
    return {str(sha256): str(document) for sha256, document in rows}


_registered = Cached("trusted_documents", _load_registered)


async def registered_document(sha256: str) -> str | None:
    """The text of the registered document with this hash, or None (kept in memory until
    a registration or removal is announced)."""
    return (await _registered.get()).get(sha256)


def _document_of(row: TrustedDocument) -> Document:
    return Document(
        sha256=row.sha256,
        name=row.name,
        document=row.document,
        built_in=False,
        created_at=row.created_at,
    )


def _check(*, name: str, document: str, schema: GraphQLSchema, max_bytes: int) -> str:
    """The name, cleaned; refuses a document that is too large or does not validate."""
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME_LENGTH:
        raise InvalidInput(
            f"The name must have 1 to {MAX_NAME_LENGTH} characters.", field=["input", "name"]
        )
    where = ["input", "document"]
    if len(document.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InvalidInput(f"The document is larger than {max_bytes} bytes.", field=where)
    try:
        tree = parse(document)
    except GraphQLError as error:
        raise InvalidInput(f"The document does not parse: {error.message}", field=where) from None
    errors = validate(schema, tree)
    if errors:
        raise InvalidInput(
            f"The document does not match the schema: {errors[0].message}", field=where
        )
    return name


async def register(*, name: str, document: str, schema: GraphQLSchema, max_bytes: int) -> Document:
    """Register `document` as trusted (the same text again returns the first registration;
    a built-in document is returned as it is)."""
    name = _check(name=name, document=document, schema=schema, max_bytes=max_bytes)
    sha256 = digest(document)
    if is_built_in(sha256):
        entry = BUILT_IN[sha256]
        return Document(sha256, entry["name"], entry["document"], True, None)
    existing = await TrustedDocument.get_or_none(sha256=sha256)
    if existing is not None:
        return _document_of(existing)
    try:
        async with in_transaction():
            row = await TrustedDocument.create(
                sha256=sha256, name=name, document=document, created_at=clock.now()
            )
            await cache.changed(_registered.name)
    except IntegrityError:  # registered at the same moment by another request
        return _document_of(await TrustedDocument.get(sha256=sha256))
    return _document_of(row)


async def remove(*, sha256: str) -> Document:
    """Remove a registered document: from the commit on, no process runs it by hash (nor
    as text when only trusted documents run)."""
    sha256 = sha256.strip().lower()
    if is_built_in(sha256):
        raise InvalidInput(
            "A built-in trusted document (the contract's or the dashboard's) cannot be removed.",
            field=["sha256Hash"],
        )
    async with in_transaction():
        row = await TrustedDocument.get_or_none(sha256=sha256)
        if row is None:
            raise NotFound("No registered trusted document has this hash.", field=["sha256Hash"])
        await row.delete()
        await cache.changed(_registered.name)
    return _document_of(row)


async def trusted_documents() -> list[Document]:
    """The built-in documents (by name), then the registered ones (oldest first)."""
    built_in = [
        Document(sha256, entry["name"], entry["document"], True, None)
        for sha256, entry in BUILT_IN.items()
    ]
    rows = await TrustedDocument.all().order_by("created_at", "sha256")
    return built_in + [_document_of(row) for row in rows]
