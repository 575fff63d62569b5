"""Credit that reaches an account after its deletion (a purchase a partner was recording
at that very moment) is forfeited by the worker's next round."""

from __future__ import annotations

from app import ledger
from app.worker import run_once
from tests.ledger.factories import give_credit
from tests.privacy.stories import delete, held, make_member
from tests.support import Api


async def test_the_worker_forfeits_credit_that_arrived_after_the_deletion(api: Api) -> None:
    # Given a deleted account that a late credit reached anyway
    ana = await make_member(api, "Ana")
    assert (await delete(api, ana.access_token))["data"]["deleteAccount"]["userErrors"] == []
    await give_credit(ana.user.id, 250, source_id=88_001)
    assert await held(ana) == 250

    # When the worker runs, twice
    first, second = await run_once(), await run_once()

    # Then the late credit is forfeited once, and the ledger reconciles
    assert (first["deleted_accounts_forfeited"], second["deleted_accounts_forfeited"]) == (1, 0)
    assert await held(ana) == 0
    assert await ledger.reconcile() == []
