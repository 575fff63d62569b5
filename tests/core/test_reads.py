"""The fields of one query read each shared row once: the balance asked twice, the
merchant of an offer and of a product; a mutation and code outside a request read anew."""

from __future__ import annotations

import asyncio

import pytest

from app.core.reads import read_each_once, read_once, remember, shared_reads
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.support import Api

TWICE = """
query {
  viewer {
    a: balance { available { amount } }
    b: balance { pending { amount } }
  }
}
"""


async def test_a_query_reads_the_balance_once_for_two_fields(api: Api) -> None:
    customer = await make_customer()
    token = api.token_for(customer)
    await api.gql(TWICE, token=token)
    with count_statements() as sent:
        answer = await api.gql(TWICE, token=token)
    assert answer["data"]["viewer"] == {
        "a": {"available": {"amount": "0.00"}},
        "b": {"pending": {"amount": "0.00"}},
    }
    assert len([s for s in sent if "ledger_wallets" in s]) == 1, sent


async def test_equal_keys_are_read_once_inside_and_anew_outside() -> None:
    calls: list[str] = []

    async def read() -> str:
        calls.append("read")
        await asyncio.sleep(0)
        return "value"

    with shared_reads():
        found = await asyncio.gather(*(read_once(("k", 1), read) for _ in range(3)))
        assert found == ["value"] * 3
        assert await read_once(("k", 1), read) == "value"
        assert calls == ["read"]
        await read_once(("k", 2), read)
        assert calls == ["read"] * 2
    await read_once(("k", 1), read)
    await read_once(("k", 1), read)
    assert calls == ["read"] * 4


async def test_a_failed_read_fails_each_caller_and_only_that_request() -> None:
    async def broken() -> str:
        raise RuntimeError("the database went away")

    with shared_reads():
        results = await asyncio.gather(
            read_once("k", broken), read_once("k", broken), return_exceptions=True
        )
        assert [type(r) for r in results] == [RuntimeError, RuntimeError]

    async def works() -> str:
        return "fine"

    with shared_reads():
        assert await read_once("k", works) == "fine"


async def test_a_batch_reads_only_the_keys_no_batch_read_before() -> None:
    batches: list[list[int]] = []

    async def read(keys: list[int]) -> dict[int, str]:
        batches.append(keys)
        return {k: f"m{k}" for k in keys if k != 99}

    with shared_reads():
        assert await read_each_once("m", [1, 2], read) == {1: "m1", 2: "m2"}
        assert await read_each_once("m", [2, 3, 99, 3], read) == {
            2: "m2",
            3: "m3",
            99: None,
        }
    assert batches == [[1, 2], [3, 99]]
    assert await read_each_once("m", [1], read) == {1: "m1"}
    assert batches[-1] == [1]


@pytest.mark.parametrize("first_cancelled", [True, False])
async def test_a_cancelled_caller_leaves_the_shared_read_to_the_others(
    first_cancelled: bool,
) -> None:
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "done"

    with shared_reads():
        first = asyncio.ensure_future(read_once("slow", slow))
        second = asyncio.ensure_future(read_once("slow", slow))
        await asyncio.sleep(0)
        (first if first_cancelled else second).cancel()
        release.set()
        survivor = second if first_cancelled else first
        assert await survivor == "done"


async def test_a_row_read_with_another_is_not_read_again() -> None:
    batches: list[list[int]] = []

    async def read(keys: list[int]) -> dict[int, str]:
        batches.append(keys)
        return {k: f"read {k}" for k in keys}

    with shared_reads():
        remember("born", 1, "known 1")
        assert await read_each_once("born", [1, 2], read) == {1: "known 1", 2: "read 2"}
    assert batches == [[2]]
    remember("born", 3, "outside a request: forgotten")
    assert await read_each_once("born", [3], read) == {3: "read 3"}
