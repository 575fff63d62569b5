"""Automatic persisted queries as Apollo clients send them: a known hash stands for its
document; an unknown one answers `PersistedQueryNotFound`, and the client then sends the
document with its hash once."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

NOT_FOUND = GraphQLError("PersistedQueryNotFound", extensions={"code": "PERSISTED_QUERY_NOT_FOUND"})


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.error = GraphQLError(message, extensions={"code": code})


def utf8(text: str) -> bytes:
    """`text` as UTF-8; a lone surrogate (valid JSON, never valid UTF-8) is kept as its
    bytes rather than failing, so it can be measured and hashed."""
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Resolved:
    """The document a request runs, and whether it came with the request (to be
    remembered once it has parsed and validated)."""

    document: str
    digest: str
    sent: bool


class PersistedQueries:
    """An in-process LRU of documents by SHA-256, bounded by the bytes it holds. Only
    documents that parsed and validated are remembered (see `remember`). Each process
    learns a document on its first miss; a client that meets another process resends
    once, as the protocol expects."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total_bytes = 0
        self._documents: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def __contains__(self, digest: object) -> bool:
        return digest in self._documents

    def resolve(self, query: str | None, persisted: dict[str, Any]) -> Resolved | None:
        """The document to run, or None when the hash is unknown and no document came.
        Nothing is stored here: the caller remembers a sent document once it is valid."""
        if persisted.get("version") != 1:
            raise PersistedQueryError(
                "Unsupported persisted query version.", "PERSISTED_QUERY_NOT_SUPPORTED"
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise PersistedQueryError("sha256Hash must be 64 hex digits.", "BAD_REQUEST")
        digest = digest.lower()
        if query is None:
            entry = self._documents.get(digest)
            if entry is None:
                return None
            self._documents.move_to_end(digest)
            return Resolved(document=entry[0], digest=digest, sent=False)
        if hashlib.sha256(utf8(query)).hexdigest() != digest:
            raise PersistedQueryError("provided sha does not match query", "BAD_REQUEST")
        return Resolved(document=query, digest=digest, sent=True)

    def remember(self, resolved: Resolved) -> None:
        """Keep a document that parsed and validated, evicting the least recently used
        ones past the byte budget. A document larger than the whole budget is not kept."""
        if resolved.digest in self._documents:
            self._documents.move_to_end(resolved.digest)
            return
        size = len(utf8(resolved.document))
        if size > self.max_bytes:
            return
        self._documents[resolved.digest] = (resolved.document, size)
        self.total_bytes += size
        while self.total_bytes > self.max_bytes:
            _, (_, evicted) = self._documents.popitem(last=False)
            self.total_bytes -= evicted
