"""The scheduled message rules, run by the worker: credits expiring within 7 days (a
service message), birthdays and lapsed customers (marketing).

Each call does bounded work: a rule reads at most `limit` candidates, going on from where
its last run stopped (its row in `notification_rule_cursors`). Several workers may run at
once: a rule's row is claimed with FOR UPDATE SKIP LOCKED, so one worker runs a rule while
the others skip it, and the unique cause key would refuse a second message anyway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from app import db, ledger
from app.accounts import messaging as accounts
from app.core import clock
from app.core.ids import encode_id
from app.core.money import Money
from app.notifications.kinds import NotificationKind
from app.notifications.service import notify
from app.offers import messaging as offers
from app.segments import service as segments

# Credits expiring within this are announced (once per currency and expiry day).
EXPIRY_WARNING = timedelta(days=7)
# A customer without a purchase for this long has lapsed...
LAPSE_AFTER = timedelta(days=60)
# ... and is nudged once, within this long of lapsing.
LAPSE_NUDGE_WINDOW = timedelta(days=30)

# A rule's step: (its position, limit, now) -> (messages written, its next position).
Step = Callable[[str | None, int, datetime], Awaitable[tuple[int, str | None]]]


async def expiring_credits(
    position: str | None, limit: int, now: datetime
) -> tuple[int, str | None]:
    """Warn of credits expiring within 7 days, `limit` customers at a time."""
    after = int(position or 0)
    found = await ledger.credits_expiring(
        after=now, until=now + EXPIRY_WARNING, after_customer_id=after, customers=limit
    )
    written = 0
    for credit in found:
        written += await notify(
            customer_id=credit.customer_id,
            kind=NotificationKind.CREDITS_EXPIRING,
            cause=f"expiring:{credit.currency}:{credit.expires_on.isoformat()}",
            params={
                "amount": str(Money.from_minor(credit.amount, credit.currency)),
                "expires_on": credit.expires_on.isoformat(),
            },
            target="app://activity",
            now=now,
        )
    customers = sorted({credit.customer_id for credit in found})
    # Fewer than asked: the sweep is done, the next one starts over.
    return written, str(customers[-1]) if len(customers) == limit else None


async def birthdays(position: str | None, limit: int, now: datetime) -> tuple[int, str | None]:
    """Wish a happy birthday, with the birthday offer when there is one (once a year)."""
    today = now.date()
    day, _, last = (position or "").partition(":")
    after = int(last) if day == today.isoformat() and last.isdigit() else 0
    found = await accounts.marketing_audience_born_on(today, after_id=after, limit=limit)
    written = 0
    for customer_id, born in found:
        offer = await offers.birthday_offer(customer_id=customer_id, birth_date=born, now=now)
        written += await notify(
            customer_id=customer_id,
            kind=NotificationKind.BIRTHDAY,
            cause=f"birthday:{today.year}",
            text="BIRTHDAY" if offer else "BIRTHDAY_GREETING",
            params={"offer": offer.title} if offer else {},
            target=f"app://offers/{encode_id('Offer', offer.id)}" if offer else "app://offers",
            now=now,
        )
    return written, f"{today.isoformat()}:{found[-1][0] if found else after}"


async def lapsed_customers(
    position: str | None, limit: int, now: datetime
) -> tuple[int, str | None]:
    """Nudge the customers who lapsed in the last 30 days (once per lapse: a purchase and
    a new lapse make a new cause)."""
    after = int(position or 0)
    lapsed_at = now - LAPSE_AFTER
    found = await segments.lapsed_customers(
        last_purchase_from=lapsed_at - LAPSE_NUDGE_WINDOW,
        last_purchase_before=lapsed_at,
        after_id=after,
        limit=limit,
    )
    written = 0
    for customer_id, last_purchase in found:
        written += await notify(
            customer_id=customer_id,
            kind=NotificationKind.LAPSED_NUDGE,
            cause=f"lapsed:{last_purchase.date().isoformat()}",
            target="app://offers",
            now=now,
        )
    return written, str(found[-1][0]) if len(found) == limit else None


RULES: dict[str, Step] = {
    "expiring_credits": expiring_credits,
    "birthdays": birthdays,
    "lapsed_customers": lapsed_customers,
}

_CLAIM = "SELECT position FROM notification_rule_cursors WHERE rule = ?"


async def _run(rule: str, step: Step, limit: int, now: datetime) -> int:
    await db.execute(
        "INSERT INTO notification_rule_cursors (rule, position, updated_at) VALUES (?, NULL, ?)"
        " ON CONFLICT (rule) DO NOTHING",
        rule,
        now,
    )
    async with in_transaction():
        postgres = db.dialect() == "postgres"
        claimed = await db.one(_CLAIM + (" FOR UPDATE SKIP LOCKED" if postgres else ""), rule)
        if claimed is None:
            return 0  # another worker runs this rule now
        written, position = await step(claimed["position"], limit, now)
        await db.execute(
            "UPDATE notification_rule_cursors SET position = ?, updated_at = ? WHERE rule = ?",
            position,
            now,
            rule,
        )
    return written


async def run_scheduled_rules(*, limit: int = 500) -> dict[str, int]:
    """Run each rule once, each over at most `limit` candidates; the messages each wrote."""
    now = clock.now()
    counts: dict[str, int] = {}
    for rule, step in RULES.items():

        async def work(rule: str = rule, step: Step = step) -> int:
            return await _run(rule, step, limit, now)

        counts[rule] = await db.retrying(work)
    return counts
