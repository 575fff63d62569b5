"""The ledger's stored rows, for tests in other folders that assert what is stored rather
than what a read shows (a read settles a due wallet first). Only tests/ledger reads the
ledger's tables through its models."""

from __future__ import annotations

from app.ledger.models import Entry, Wallet
from tests.ledger.factories import CURRENCY


async def stored_wallet(customer_id: int, currency: str = CURRENCY) -> Wallet:
    """The wallet row as it is stored, not settled."""
    return await Wallet.get(customer_id=customer_id, currency=currency)


async def entry_count(customer_id: int) -> int:
    """How many lines of activity the customer has, of any kind."""
    return await Entry.filter(customer_id=customer_id).count()
