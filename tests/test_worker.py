"""The worker settles wallets and marks lapsed redemptions in bulk, without any read."""

from __future__ import annotations

from datetime import timedelta

from app.core import clock
from app.redemptions.models import Redemption
from app.worker import housekeeping, run_once
from tests.factories import make_customer
from tests.ledger.factories import give_credit
from tests.ledger.invariants import assert_ledger_consistent
from tests.ledger.rows import stored_wallet
from tests.redemptions.factories import gid, give_credits, make_merchant
from tests.redemptions.operations import started
from tests.support import Api


async def test_a_round_matures_credits_in_the_stored_wallet(db) -> None:
    customer = await make_customer()
    await give_credit(customer.id, 500, pending=timedelta(days=30))
    clock.advance(timedelta(days=30, seconds=1))
    before = await stored_wallet(customer.id)
    assert (before.pending, before.available) == (500, 0)  # nothing has read it yet

    done = await run_once()

    after = await stored_wallet(customer.id)
    assert done["wallets_settled"] == 1
    assert (after.pending, after.available) == (0, 500)
    assert (await run_once())["wallets_settled"] == 0
    await assert_ledger_consistent()


async def test_a_round_marks_lapsed_redemptions_expired(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")
    clock.advance(timedelta(minutes=11))
    assert (await Redemption.get(customer_id=customer.id)).status == "RESERVED"

    done = await run_once()

    assert done["redemptions_expired"] == 1
    assert (await Redemption.get(customer_id=customer.id)).status == "EXPIRED"
    wallet = await stored_wallet(customer.id)
    assert (wallet.available, wallet.reserved) == (1000, 0)
    await assert_ledger_consistent()


async def test_housekeeping_runs_on_an_empty_database(db) -> None:
    assert await housekeeping() == {"refresh_tokens_purged": 0, "throttle_counters_purged": 0}
