"""Merchants and stores are read once per process and served from memory: a merchant or
store an admin creates is seen by the very next read, on this process and on every other,
and nothing is kept when the tables are too large or changes cannot be heard."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest

from app import cache
from app.catalog import memory, service
from app.catalog.values import Channel
from app.core.ids import encode_id
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.catalog.test_setup import CREATE_MERCHANT, CREATE_STORE, UPSERT_PRODUCTS
from tests.factories import make_admin
from tests.ledger.statements import count_statements
from tests.support import Api

MERCHANT = """
query ($id: ID!) { node(id: $id) { ... on Merchant { name stores { name channel } } } }
"""
PRODUCT = "query ($id: ID!) { node(id: $id) { ... on Product { sku merchant { name } } } }"
STORE = "query ($id: ID!) { node(id: $id) { ... on Store { name merchant { name } } } }"


def _catalogue_reads(sent: list[str]) -> list[str]:
    return [s for s in sent if "catalog_merchants" in s or "catalog_stores" in s]


async def _merchant(api: Api, merchant_id: str) -> dict[str, Any]:
    answer = await api.gql(MERCHANT, {"id": merchant_id})
    assert "errors" not in answer, answer
    node: dict[str, Any] = answer["data"]["node"]
    return node


async def _create_merchant(api: Api, token: str, name: str) -> str:
    answer = await api.gql(
        CREATE_MERCHANT, {"input": {"name": name, "cashbackPercent": "3"}}, token=token
    )
    assert answer["data"]["createMerchant"]["userErrors"] == [], answer
    return str(answer["data"]["createMerchant"]["merchant"]["id"])


async def _create_store(api: Api, token: str, merchant_id: str, name: str) -> str:
    answer = await api.gql(
        CREATE_STORE,
        {"input": {"merchantId": merchant_id, "name": name, "channel": "IN_STORE"}},
        token=token,
    )
    assert answer["data"]["createStore"]["userErrors"] == [], answer
    return str(answer["data"]["createStore"]["store"]["id"])


async def test_what_an_admin_creates_is_seen_by_the_next_read(api: Api) -> None:
    old = await make_merchant(name="Old shop")
    await make_store(old, name="Old shop online", channel=Channel.ONLINE)
    old_id = encode_id("Merchant", old.id)
    assert await _merchant(api, old_id) == {
        "name": "Old shop",
        "stores": [{"name": "Old shop online", "channel": "ONLINE"}],
    }
    with count_statements() as sent:
        await _merchant(api, old_id)
    assert _catalogue_reads(sent) == []  # in memory now

    token = api.token_for(await make_admin())
    new_id = await _create_merchant(api, token, "New shop")
    store_id = await _create_store(api, token, new_id, "New shop downtown")
    assert await _merchant(api, new_id) == {
        "name": "New shop",
        "stores": [{"name": "New shop downtown", "channel": "IN_STORE"}],
    }
    answer = await api.gql(STORE, {"id": store_id})
    assert answer["data"]["node"] == {"name": "New shop downtown", "merchant": {"name": "New shop"}}

    # A new store of a merchant already in memory joins its list at once.
    await _create_store(api, token, old_id, "Old shop harbour")
    assert [s["name"] for s in (await _merchant(api, old_id))["stores"]] == [
        "Old shop online",
        "Old shop harbour",
    ]
    # And a refused creation changes nothing.
    answer = await api.gql(
        CREATE_STORE,
        {"input": {"merchantId": encode_id("Merchant", 0), "name": "X", "channel": "ONLINE"}},
        token=token,
    )
    assert [e["code"] for e in answer["data"]["createStore"]["userErrors"]] == ["UNKNOWN_MERCHANT"]
    assert len((await _merchant(api, old_id))["stores"]) == 2


async def test_an_unknown_id_is_still_unknown(api: Api) -> None:
    merchant = await make_merchant(name="Known")
    await _merchant(api, encode_id("Merchant", merchant.id))  # memory holds the merchants
    for kind in ("Merchant", "Store"):
        answer = await api.gql(MERCHANT, {"id": encode_id(kind, merchant.id + 1000)})
        assert answer["data"]["node"] is None, answer
    assert await service.get_merchant(merchant.id + 1000) is None


async def test_callers_cannot_change_what_the_next_caller_reads(api: Api) -> None:
    merchant = await make_merchant(name="Frozen")
    store = await make_store(merchant, name="Frozen store")
    found = await service.get_merchant(merchant.id)
    assert found is not None and found.name == "Frozen"
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.name = "Changed"  # type: ignore[misc]
    [stores] = await service.stores_of_merchants([merchant.id])
    stores.clear()
    [again] = await service.stores_of_merchants([merchant.id])
    assert [s.id for s in again] == [store.id]
    assert (await _merchant(api, encode_id("Merchant", merchant.id)))["name"] == "Frozen"


async def test_tables_beyond_the_limit_are_read_and_not_kept(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "MAX_KEPT_ROWS", 2)
    merchants = [await make_merchant(name=f"Shop {n}") for n in range(3)]
    for merchant in merchants:
        await make_store(merchant, name=f"{merchant.name} online", channel=Channel.ONLINE)
    product = await make_product(merchants[2], sku="BIG-1")

    with count_statements() as sent:
        await _merchant(api, encode_id("Merchant", merchants[0].id))
    assert len([s for s in _catalogue_reads(sent) if "LIMIT" in s]) == 2  # found too long

    for _ in range(2):
        with count_statements() as sent:
            answer = await api.gql(PRODUCT, {"id": encode_id("Product", product.id)})
            shown = await _merchant(api, encode_id("Merchant", merchants[1].id))
        assert answer["data"]["node"] == {"sku": "BIG-1", "merchant": {"name": "Shop 2"}}
        assert shown == {
            "name": "Shop 1",
            "stores": [{"name": "Shop 1 online", "channel": "ONLINE"}],
        }
        # Each read asks the database for just what it shows, every time.
        reads = _catalogue_reads(sent)
        assert len(reads) == 3, reads
        assert not [s for s in reads if "LIMIT" in s], reads

    # Within the limit, the tables are kept again (from the next change on).
    monkeypatch.setattr(memory, "MAX_KEPT_ROWS", 3)
    await cache.changed_everything()
    await _merchant(api, encode_id("Merchant", merchants[1].id))
    with count_statements() as sent:
        answer = await api.gql(PRODUCT, {"id": encode_id("Product", product.id)})
    assert answer["data"]["node"]["merchant"] == {"name": "Shop 2"}
    assert _catalogue_reads(sent) == []


async def test_nothing_is_kept_while_changes_cannot_be_heard(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = await make_merchant(name="Heard")
    await make_store(merchant, name="Heard online", channel=Channel.ONLINE)
    merchant_id = encode_id("Merchant", merchant.id)
    await _merchant(api, merchant_id)

    monkeypatch.setattr(cache._state, "serving", False)
    with count_statements() as sent:
        assert (await _merchant(api, merchant_id))["stores"] == [
            {"name": "Heard online", "channel": "ONLINE"}
        ]
    # Only what is shown is read, not the whole tables.
    reads = _catalogue_reads(sent)
    assert len(reads) == 2 and not [s for s in reads if "LIMIT" in s], reads
    infos = await service.store_infos(s.id for s in await _all_stores(merchant.id))
    assert [(i.name, i.merchant_name) for i in infos.values()] == [("Heard online", "Heard")]


async def _all_stores(merchant_id: int) -> list[Any]:
    [stores] = await service.stores_of_merchants([merchant_id])
    return stores


@pytest.mark.usefixtures("postgres_only")
async def test_what_one_process_creates_the_other_shows(api: Api, servers: list[str]) -> None:
    admin = {"Authorization": f"Bearer {api.token_for(await make_admin())}"}
    first, second = servers
    async with httpx.AsyncClient(timeout=30) as client:

        async def ask(server: str, query: str, variables: dict[str, Any], **kw: Any) -> Any:
            response = await client.post(
                f"{server}/graphql", json={"query": query, "variables": variables}, **kw
            )
            body = response.json()
            assert "errors" not in body, body
            return body["data"]

        async def on_second(query: str, variables: dict[str, Any], wanted: object) -> None:
            # The change's notice reaches the other process as the change commits.
            seen = []
            for _ in range(50):
                seen.append((await ask(second, query, variables))["node"])
                if seen[-1] == wanted:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError(seen)

        old = await make_merchant(name="Before")
        await make_store(old, name="Before online", channel=Channel.ONLINE)
        old_id = encode_id("Merchant", old.id)
        before = {"name": "Before", "stores": [{"name": "Before online", "channel": "ONLINE"}]}
        assert (await ask(second, MERCHANT, {"id": old_id}))["node"] == before  # kept there

        data = await ask(
            first,
            CREATE_MERCHANT,
            {"input": {"name": "After", "cashbackPercent": "4"}},
            headers=admin,
        )
        new_id = data["createMerchant"]["merchant"]["id"]
        data = await ask(
            first,
            UPSERT_PRODUCTS,
            {
                "merchantId": new_id,
                "products": [
                    {
                        "sku": "AFTER-1",
                        "name": "Lamp",
                        "category": "Home",
                        "price": {"amount": "20", "currencyCode": "USD"},
                    }
                ],
            },
            headers=admin,
        )
        product_id = data["upsertProducts"]["products"][0]["id"]
        await on_second(
            PRODUCT, {"id": product_id}, {"sku": "AFTER-1", "merchant": {"name": "After"}}
        )

        data = await ask(
            first,
            CREATE_STORE,
            {"input": {"merchantId": old_id, "name": "Before harbour", "channel": "IN_STORE"}},
            headers=admin,
        )
        assert data["createStore"]["userErrors"] == []
        harbour = {"name": "Before harbour", "channel": "IN_STORE"}
        await on_second(
            MERCHANT, {"id": old_id}, {**before, "stores": [*before["stores"], harbour]}
        )
