"""The scheduled message rules, run by the worker: credits expiring within 7 days (a
service message); birthdays, lapsed customers, and after a purchase an offer of a segment
the customer is now in and the products suggested with what they bought (marketing).

Each call does bounded work: a rule reads at most `limit` candidates, going on from where
its last run stopped (its row in `notification_rule_cursors`). Several workers may run at
once: a rule's row is claimed with FOR UPDATE SKIP LOCKED, so one worker runs a rule while
the others skip it, and the unique cause key would refuse a second message anyway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from tortoise.transactions import in_transaction

from app import db, ledger
from app.accounts import messaging as accounts
from app.accounts import service as accounts_service
from app.cashback import messaging as cashback
from app.cashback.messaging import RecordedPurchase
from app.core import clock
from app.core.errors import DomainError, DomainErrors
from app.core.ids import encode_id
from app.core.money import Money
from app.notifications.kinds import NotificationKind
from app.notifications.service import notify
from app.offers import messaging as offers
from app.segments import service as segments
from app.suggestions import service as suggestions

# Credits expiring within this are announced (once per currency and expiry day).
EXPIRY_WARNING = timedelta(days=7)
# A customer without a purchase for this long has lapsed...
LAPSE_AFTER = timedelta(days=60)
# ... and is nudged once, within this long of lapsing.
LAPSE_NUDGE_WINDOW = timedelta(days=30)

# Purchases recorded longer ago than this when the rule first sees them are let be.
AFTER_PURCHASE_WINDOW = timedelta(days=1)
# The products a message after a purchase suggests.
SUGGESTED_PRODUCTS = 3

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


async def after_purchases(
    position: str | None, limit: int, now: datetime
) -> tuple[int, str | None]:
    """After each purchase (of a customer with marketing consent): an offer of a segment
    they are now in and were not told of yet, and the products suggested with what they
    bought."""
    after = int(position or 0)
    found = await cashback.purchases_recorded_since(
        since=now - AFTER_PURCHASE_WINDOW, after_id=after, limit=limit
    )
    born = await accounts_service.birth_dates(p.customer_id for p in found)
    written = 0
    for purchase in found:
        recipient = await accounts.recipient(purchase.customer_id)
        if recipient is None or not recipient.marketing_consent:
            continue
        written += await _segment_offer(purchase, born.get(purchase.customer_id), now)
        written += await _suggested(purchase, now)
    return written, str(found[-1].purchase_id) if found else position


async def _segment_offer(purchase: RecordedPurchase, birth_date: date | None, now: datetime) -> int:
    """One offer of a segment the customer is in, the first they were not told of."""
    for offer in await offers.segment_offers(
        customer_id=purchase.customer_id, birth_date=birth_date, now=now
    ):
        if await notify(
            customer_id=purchase.customer_id,
            kind=NotificationKind.SEGMENT_OFFER,
            cause=f"offer:{offer.id}",
            params={"offer": offer.title},
            target=f"app://offers/{encode_id('Offer', offer.id)}",
            now=now,
        ):
            return 1
    return 0


async def _suggested(purchase: RecordedPurchase, now: datetime) -> int:
    purchase_id = encode_id("Purchase", purchase.purchase_id)
    try:
        picks = await suggestions.suggestions_for(
            customer_id=purchase.customer_id,
            personalized=False,
            first=SUGGESTED_PRODUCTS,
            purchase_id=purchase_id,
        )
    except (DomainError, DomainErrors):
        return 0  # the purchase is gone (its account was deleted meanwhile)
    if not picks:
        return 0
    return int(
        await notify(
            customer_id=purchase.customer_id,
            kind=NotificationKind.POST_PURCHASE,
            cause=f"suggestions:purchase:{purchase.purchase_id}",
            params={"products": ", ".join(pick.product.name for pick in picks)},
            target=f"app://purchases/{purchase_id}/suggestions",
            now=now,
        )
    )


RULES: dict[str, Step] = {
    "expiring_credits": expiring_credits,
    "birthdays": birthdays,
    "lapsed_customers": lapsed_customers,
    "after_purchases": after_purchases,
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
