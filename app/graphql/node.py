"""The `Node` interface and `node(id:)`: each feature registers how to fetch its
objects for a caller, and that function decides whether the caller may see them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from app.core.errors import NotFound
from app.core.ids import decode_any_id, primary_key
from app.graphql.context import Context, Info

NodeFetcher = Callable[[Context, int], Awaitable[Any | None]]
_FETCHERS: dict[str, NodeFetcher] = {}


@strawberry.interface(description="An object with an opaque global id.")
class Node:
    id: strawberry.ID


def node_fetcher(type_name: str) -> Callable[[NodeFetcher], NodeFetcher]:
    """Register the function that returns the `type_name` object with this primary key,
    or None when it does not exist or the caller may not see it."""

    def register(fetch: NodeFetcher) -> NodeFetcher:
        _FETCHERS[type_name] = fetch
        return fetch

    return register


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its id, if the caller may see it.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            type_name, text = decode_any_id(id)
        except NotFound:
            return None
        fetch = _FETCHERS.get(type_name)
        pk = primary_key(text)
        if fetch is None or pk is None:
            return None
        return await fetch(info.context, pk)
