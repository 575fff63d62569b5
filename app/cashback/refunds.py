"""Refunds: part or all of a purchase given back, and that share of its cashback taken
back through the ledger (pending first, then available; what was spent is a clawback).
A refund and its take-back commit in one transaction; the same key never refunds twice."""

from __future__ import annotations

from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import ledger
from app.cashback import offers_seam
from app.cashback.errors import RefundExceedsPurchase, UnknownPurchase
from app.cashback.models import Purchase, PurchaseStatus, Refund
from app.cashback.profiles import refunded_by_category
from app.cashback.purchases import SOURCE_PURCHASE
from app.cashback.spend import count_refund
from app.catalog import service as catalog
from app.catalog.service import StoreInfo
from app.core import clock
from app.core.columns import fits_column
from app.core.errors import IdempotencyKeyReused, InputErrors, InvalidAmount, InvalidInput
from app.core.money import Money, parse_money
from app.db import retrying
from app.notifications import triggers as notifications
from app.program.service import get_program
from app.segments import service as segments
from app.suggestions import statistics as co_purchases


def _status(purchase: Purchase) -> PurchaseStatus:
    if purchase.refunded_minor == 0:
        return PurchaseStatus.COMPLETED
    if purchase.refunded_minor < purchase.total_minor:
        return PurchaseStatus.PARTIALLY_REFUNDED
    return PurchaseStatus.REFUNDED


def cashback_kept(purchase: Purchase, refunded_minor: int) -> int:
    """The cashback a purchase keeps once `refunded_minor` of it is refunded: its share of
    what was not returned, rounded down (cashback is never rounded up)."""
    if purchase.total_minor == 0:
        return 0
    kept = purchase.total_minor - refunded_minor
    return purchase.cashback_minor * kept // purchase.total_minor


async def refund_purchase(
    *,
    store_id: str,
    external_id: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
    reason: str | None,
    merchant_scope: int | None,
) -> Purchase:
    """Refund part or all of a purchase and take back that share of its cashback: from
    what is still pending first, then from available credit; what was already spent is
    recorded as a clawback by the ledger. The same key never refunds twice."""
    program = await get_program()
    problems = InputErrors()
    amount_minor = 0
    with problems.catch():
        amount_minor = parse_money(
            amount, currency, program_currency=program.currency_code, field=["input", "amount"]
        ).minor
        if amount_minor <= 0:
            raise InvalidAmount("A refund is above zero.", field=["input", "amount"])
        if amount_minor > program.max_purchase_total.minor:
            raise InvalidAmount(
                f"A refund is at most {program.max_purchase_total}.", field=["input", "amount"]
            )
    key = (idempotency_key or "").strip()
    if not key or len(key) > 128:
        problems.add(InvalidInput("1 to 128 characters.", field=["input", "idempotencyKey"]))
    note = (reason or "").strip()[:500] or None
    store: StoreInfo | None = None
    with problems.catch():
        store = await catalog.store_in_scope(store_id, merchant_scope)
    problems.raise_any()
    assert store is not None
    reference = external_id.strip()
    purchase = (
        await Purchase.get_or_none(store_id=store.id, external_id=reference)
        if fits_column(Purchase, "external_id", reference)
        else None
    )
    if purchase is None:
        raise UnknownPurchase(field=["input", "externalId"])
    try:
        return await retrying(lambda: _refund(purchase.id, store, key, amount_minor, note))
    except IntegrityError:
        # The same key at the same moment, from another request: that one counts.
        first = await Refund.get_or_none(store_id=store.id, idempotency_key=key)
        if first is None:
            raise
        if first.purchase_id != purchase.id or first.amount_minor != amount_minor:
            raise IdempotencyKeyReused(field=["input", "idempotencyKey"]) from None
        return await Purchase.get(id=purchase.id)


async def _refund(
    purchase_id: int, store: StoreInfo, key: str, amount_minor: int, reason: str | None
) -> Purchase:
    async with in_transaction():
        purchase = await Purchase.select_for_update().get(id=purchase_id)
        first = await Refund.get_or_none(store_id=store.id, idempotency_key=key)
        if first is not None:
            if first.purchase_id != purchase.id or first.amount_minor != amount_minor:
                raise IdempotencyKeyReused(field=["input", "idempotencyKey"])
            return purchase
        left = purchase.total_minor - purchase.refunded_minor
        if amount_minor > left:
            raise RefundExceedsPurchase(
                f"At most {Money.from_minor(left, purchase.currency)} is left to refund.",
                field=["input", "amount"],
            )
        refunded = purchase.refunded_minor + amount_minor
        now = clock.now()
        take = (purchase.cashback_minor - cashback_kept(purchase, refunded)) - (
            purchase.cashback_reversed_minor
        )
        refund = await Refund.create(
            purchase_id=purchase.id,
            store_id=store.id,
            idempotency_key=key,
            amount_minor=amount_minor,
            reason=reason,
            cashback_taken_minor=take,
            created_at=now,
        )
        if take > 0:
            taken = await ledger.take_back(
                customer_id=purchase.customer_id,
                currency=purchase.currency,
                source_type=SOURCE_PURCHASE,
                source_id=purchase.id,
                amount=take,
                description=f"Refund at {store.merchant_name}",
                idempotency_key=f"refund:{refund.id}",
            )
            refund.from_pending_minor = taken.from_pending
            refund.from_available_minor = taken.from_available
            refund.clawback_minor = taken.clawback
            await refund.save(
                update_fields=["from_pending_minor", "from_available_minor", "clawback_minor"]
            )
            await notifications.cashback_taken_back(
                customer_id=purchase.customer_id,
                refund_id=refund.id,
                amount_minor=take,
                currency=purchase.currency,
                merchant_name=store.merchant_name,
                now=now,
            )
        # The offers it used get back their share of budget (and the use, when in full).
        await offers_seam.give_back_offer_use(
            purchase_id=purchase.id, refunded_minor=refunded, total_minor=purchase.total_minor
        )
        await segments.record_refund(
            customer_id=purchase.customer_id,
            merchant_id=purchase.merchant_id,
            channel=purchase.channel.value,
            occurred_at=purchase.occurred_at,
            refunded_by_category=await refunded_by_category(purchase, refunded),
            fully_refunded=refunded >= purchase.total_minor,
            now=now,
        )
        if refunded >= purchase.total_minor:
            await co_purchases.forget_purchase(purchase.id)
        purchase.refunded_minor = refunded
        purchase.cashback_reversed_minor += take
        purchase.status = _status(purchase)
        await purchase.save(update_fields=["refunded_minor", "cashback_reversed_minor", "status"])
        # Last, as in a purchase: a writer holds its customer's spend row only at its end.
        await count_refund(
            customer_id=purchase.customer_id,
            amount_minor=amount_minor,
            occurred_at=purchase.occurred_at,
            now=now,
        )
    return purchase
