"""Automatic persisted queries as Apollo clients send them: a known hash stands for its
document; an unknown one answers `PersistedQueryNotFound`, and the client then sends the
document with its hash once."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from graphql import GraphQLError

NOT_FOUND = GraphQLError("PersistedQueryNotFound", extensions={"code": "PERSISTED_QUERY_NOT_FOUND"})


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.error = GraphQLError(message, extensions={"code": code})


class PersistedQueries:
    """An in-process LRU of documents by SHA-256. Each process learns a document on its first
    miss; a client that meets another process resends once, as the protocol expects."""

    def __init__(self, max_entries: int = 5_000) -> None:
        self.max_entries = max_entries
        self._documents: OrderedDict[str, str] = OrderedDict()

    def resolve(self, query: str | None, persisted: dict[str, Any]) -> str | None:
        """The document to run, or None when the hash is unknown and no document came."""
        if persisted.get("version") != 1:
            raise PersistedQueryError(
                "Unsupported persisted query version.", "PERSISTED_QUERY_NOT_SUPPORTED"
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise PersistedQueryError("sha256Hash must be 64 hex digits.", "BAD_REQUEST")
        digest = digest.lower()
        if query is None:
            document = self._documents.get(digest)
            if document is not None:
                self._documents.move_to_end(digest)
            return document
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError("provided sha does not match query", "BAD_REQUEST")
        self._documents[digest] = query
        self._documents.move_to_end(digest)
        while len(self._documents) > self.max_entries:
            self._documents.popitem(last=False)
        return query
