"""Money coming in and going back: a credit is a new lot; a take-back (a refund) undoes
what a source credited: from its own lots while they hold it, from the customer's other
credit for what was spent (credit is fungible), and on the program's CLAWBACK account for
what neither can cover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from app import db
from app.core import clock
from app.core.errors import ErrorCode, InvalidAmount, InvalidInput
from app.ledger import wallets
from app.ledger.errors import WalletTotalTooLarge
from app.ledger.postings import LotChange, apply_lot_changes, set_status, transfer
from app.ledger.settling import expire_due_lots, settle
from app.ledger.values import (
    AVAILABLE,
    CLAWBACK,
    CREDIT_KINDS,
    FUNDING,
    LOT_CLOSED,
    MAX_WALLET_TOTAL,
    PENDING,
    TakeBack,
    utc,
)

# --------------------------------------------------------------------------- crediting


@dataclass(frozen=True)
class CreditRequest:
    """One credit as `credit` was asked for it, checked, its moments in aware UTC."""

    customer_id: int
    currency: str
    amount: int
    kind: str
    occurred_at: datetime
    available_at: datetime
    expires_at: datetime
    source_type: str
    source_id: int
    merchant_id: int | None
    description: str
    details: dict[str, Any] | None
    terms_version: int | None
    idempotency_key: str


async def credit(
    *,
    customer_id: int,
    currency: str,
    amount: int,
    kind: str,
    occurred_at: datetime,
    available_at: datetime,
    expires_at: datetime,
    source_type: str,
    source_id: int,
    merchant_id: int | None,
    description: str,
    details: dict[str, Any] | None = None,
    terms_version: int | None = None,
    idempotency_key: str,
) -> int:
    """Credit one lot: PENDING until `available_at` (AVAILABLE at once when that has come),
    expiring at `expires_at`. The entry id; the same idempotency key again credits nothing
    and returns the first entry's id. An amount of 0 does nothing and returns 0."""
    if amount < 0:
        raise InvalidAmount("A credit cannot be negative.")
    if amount == 0:
        return 0
    if amount > MAX_WALLET_TOTAL:
        raise WalletTotalTooLarge()
    if kind not in CREDIT_KINDS:
        raise InvalidInput(f"{kind} is not a kind of credit.")
    request = CreditRequest(
        customer_id=customer_id,
        currency=currency,
        amount=amount,
        kind=kind,
        occurred_at=utc(occurred_at),
        available_at=utc(available_at),
        expires_at=utc(expires_at),
        source_type=source_type,
        source_id=source_id,
        merchant_id=merchant_id,
        description=description,
        details=details,
        terms_version=terms_version,
        idempotency_key=idempotency_key,
    )
    if request.expires_at <= request.available_at:
        raise InvalidInput("Credits must expire after they become available.")

    async def work() -> int:
        now = clock.now()
        async with in_transaction():
            return await _credit(request, now)

    return await db.retrying(work)


def _beyond_ceiling(wallet: dict[str, Any]) -> bool:
    held = int(wallet["available"]) + int(wallet["pending"]) + int(wallet["reserved"])
    return held > MAX_WALLET_TOTAL or int(wallet["lifetime_earned"]) > MAX_WALLET_TOTAL


async def _credit(request: CreditRequest, now: datetime) -> int:
    customer_id, currency, amount = request.customer_id, request.currency, request.amount
    available_at, expires_at = request.available_at, request.expires_at
    available_now = available_at <= now
    state = AVAILABLE if available_now else PENDING
    inserted = await db.one(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " available_at, expires_at, description, merchant_id, source_type, source_id, details,"
        " terms_version, idempotency_key, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        customer_id,
        currency,
        request.kind,
        state,
        amount,
        request.occurred_at,
        available_at,
        expires_at,
        request.description[:500],
        request.merchant_id,
        request.source_type,
        request.source_id,
        db.to_json(request.details),
        request.terms_version,
        request.idempotency_key,
        now,
        now,
    )
    if inserted is None:
        first = await db.one(
            "SELECT id FROM ledger_entries WHERE idempotency_key = ?", request.idempotency_key
        )
        assert first is not None
        return int(first["id"])
    entry_id = int(inserted["id"])
    wallet = await db.one(
        "INSERT INTO ledger_wallets (customer_id, currency, available, pending, reserved,"
        " lifetime_earned, next_change_at, next_expiry_amount, next_expiry_at, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (customer_id, currency) DO UPDATE SET"
        " available = ledger_wallets.available + excluded.available,"
        " pending = ledger_wallets.pending + excluded.pending,"
        " lifetime_earned = ledger_wallets.lifetime_earned + excluded.lifetime_earned,"
        " next_change_at = CASE WHEN ledger_wallets.next_change_at IS NULL"
        "   OR ledger_wallets.next_change_at > excluded.next_change_at"
        "   THEN excluded.next_change_at ELSE ledger_wallets.next_change_at END,"
        " next_expiry_amount = CASE WHEN excluded.next_expiry_at IS NULL"
        "   THEN ledger_wallets.next_expiry_amount"
        "   WHEN ledger_wallets.next_expiry_at IS NULL"
        "   OR ledger_wallets.next_expiry_at > excluded.next_expiry_at"
        "   THEN excluded.next_expiry_amount"
        "   WHEN ledger_wallets.next_expiry_at = excluded.next_expiry_at"
        "   THEN ledger_wallets.next_expiry_amount + excluded.next_expiry_amount"
        "   ELSE ledger_wallets.next_expiry_amount END,"
        " next_expiry_at = CASE WHEN excluded.next_expiry_at IS NULL"
        "   THEN ledger_wallets.next_expiry_at"
        "   WHEN ledger_wallets.next_expiry_at IS NULL"
        "   OR ledger_wallets.next_expiry_at > excluded.next_expiry_at"
        "   THEN excluded.next_expiry_at ELSE ledger_wallets.next_expiry_at END,"
        " updated_at = excluded.updated_at"
        " RETURNING id, next_change_at, available, pending, reserved, lifetime_earned",
        customer_id,
        currency,
        amount if available_now else 0,
        0 if available_now else amount,
        amount,
        expires_at if available_now else available_at,
        amount if available_now else None,
        expires_at if available_now else None,
        now,
        now,
    )
    assert wallet is not None
    if _beyond_ceiling(wallet):
        # Raised inside the caller's transaction: the entry and the wallet change roll back.
        raise WalletTotalTooLarge()
    await db.execute(
        "INSERT INTO ledger_lots (customer_id, currency, entry_id, state, amount, remaining,"
        " spent, expired, taken_back, clawed_back, available_at, expires_at, source_type,"
        " source_id, merchant_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?, ?, ?, ?, ?, ?)",
        customer_id,
        currency,
        entry_id,
        state,
        amount,
        amount,
        available_at,
        expires_at,
        request.source_type,
        request.source_id,
        request.merchant_id,
        now,
    )
    await transfer(
        customer_id=customer_id,
        currency=currency,
        kind="CREDIT",
        entry_id=entry_id,
        postings=[(FUNDING, -amount), (AVAILABLE if available_now else PENDING, amount)],
        now=now,
    )
    if wallets.is_due(wallet["next_change_at"], now):
        await settle(customer_id, currency, now)
    elif available_now and int(wallet["reserved"]):
        # Lots past their expiry that reservations held (they held all the available
        # money) expire as far as this credit now stands in for them, as a maturing one.
        expired = await expire_due_lots(customer_id, currency, now, limit=int(wallet["available"]))
        if expired:
            await wallets.refresh(wallet["id"], customer_id, currency, now, available=-expired)
    return entry_id


# --------------------------------------------------------------------------- taking back


@dataclass(frozen=True)
class TakeBackRequest:
    """One take-back as `take_back` was asked for it."""

    customer_id: int
    currency: str
    source_type: str
    source_id: int
    amount: int
    description: str
    idempotency_key: str


async def take_back(
    *,
    customer_id: int,
    currency: str,
    source_type: str,
    source_id: int,
    amount: int,
    description: str,
    idempotency_key: str,
) -> TakeBack:
    """Take `amount` back for what (source_type, source_id) credited: from its lots while
    they hold it (pending first, then available); what the customer spent of it from the
    customer's other pending, then available credit; never what open reservations hold.
    What none of that covers (and what expired) is recorded on the program's CLAWBACK
    account; balances never go below zero. No more than was credited for the source (less
    earlier take-backs) is taken. The same idempotency key again returns the first result
    and moves nothing."""
    if amount < 0:
        raise InvalidAmount("A take-back cannot be negative.")
    if amount == 0:
        return TakeBack(0, 0, 0)
    request = TakeBackRequest(
        customer_id=customer_id,
        currency=currency,
        source_type=source_type,
        source_id=source_id,
        amount=amount,
        description=description,
        idempotency_key=idempotency_key,
    )

    async def work() -> TakeBack:
        now = clock.now()
        async with in_transaction():
            return await _take_back(request, now)

    return await db.retrying(work)


async def _take_back(request: TakeBackRequest, now: datetime) -> TakeBack:
    customer_id, currency = request.customer_id, request.currency
    wallet = await settle(customer_id, currency, now)
    first = await db.one(
        "SELECT kind, details FROM ledger_entries WHERE idempotency_key = ?",
        request.idempotency_key,
    )
    if first is not None:
        details = db.from_json(first["details"]) or {}
        if first["kind"] != "REVERSAL":
            raise InvalidInput(
                "This idempotency key was used for something else.",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        return TakeBack(
            from_pending=int(details.get("from_pending", 0)),
            from_available=int(details.get("from_available", 0)),
            clawback=int(details.get("clawback", 0)),
        )
    if wallet is None:
        return TakeBack(0, 0, 0)
    lots = await db.rows(
        "SELECT id, entry_id, state, amount, remaining, spent, taken_back, clawed_back,"
        " merchant_id"
        " FROM ledger_lots WHERE customer_id = ? AND currency = ? AND source_type = ?"
        " AND source_id = ? ORDER BY id",
        customer_id,
        currency,
        request.source_type,
        request.source_id,
    )
    reversible = sum(
        int(lot["amount"]) - int(lot["taken_back"]) - int(lot["clawed_back"]) for lot in lots
    )
    left = min(request.amount, reversible)
    if left <= 0:
        return TakeBack(0, 0, 0)
    plan = _TakeBackPlan(lots, int(wallet["available"]))
    plan.take_own(left)
    if plan.to_cover:
        plan.cover_from(await _other_lots(request, now, plan.to_cover))
    touched, reversed_entries, result = plan.finish()
    from_pending, from_available, clawback = (
        result.from_pending,
        result.from_available,
        result.clawback,
    )
    await apply_lot_changes(touched)
    entry = await db.one(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " description, merchant_id, source_type, source_id, details, idempotency_key,"
        " created_at, updated_at) VALUES (?, ?, 'REVERSAL', 'COMPLETED', ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?) RETURNING id",
        customer_id,
        currency,
        from_pending + from_available,
        now,
        request.description[:500],
        lots[0]["merchant_id"],
        request.source_type,
        request.source_id,
        db.to_json(
            {"from_pending": from_pending, "from_available": from_available, "clawback": clawback}
        ),
        request.idempotency_key,
        now,
        now,
    )
    assert entry is not None
    await set_status(reversed_entries, "REVERSED", now, was=None)
    await transfer(
        customer_id=customer_id,
        currency=currency,
        kind="TAKE_BACK",
        entry_id=entry["id"],
        postings=[
            (PENDING, -from_pending),
            (AVAILABLE, -from_available),
            (CLAWBACK, -clawback),
            (FUNDING, from_pending + from_available + clawback),
        ],
        now=now,
    )
    await wallets.refresh(
        wallet["id"],
        customer_id,
        currency,
        now,
        available=-from_available,
        pending=-from_pending,
        lifetime_earned=-(from_pending + from_available + clawback),
    )
    return result


async def _other_lots(request: TakeBackRequest, now: datetime, amount: int) -> list[dict[str, Any]]:
    """The customer's other credit a take-back may draw on, in the order it does: pending
    lots maturing last first, then available lots expiring soonest first (not those past
    their expiry, which open reservations hold); only as many as `amount` needs."""
    order = (
        "CASE WHEN state = 'PENDING' THEN 0 ELSE 1 END,"
        " CASE WHEN state = 'PENDING' THEN available_at END DESC, expires_at, id"
    )
    return await db.rows(
        "SELECT id, state, remaining FROM (SELECT id, state, remaining, available_at,"  # noqa: S608
        f" expires_at, SUM(remaining) OVER (ORDER BY {order}) AS running FROM ledger_lots"
        " WHERE customer_id = ? AND currency = ?"
        " AND (state = 'PENDING' OR (state = 'AVAILABLE' AND expires_at > ?))"
        " AND NOT (source_type = ? AND source_id = ?)) AS x"
        f" WHERE running - remaining < ? ORDER BY {order}",
        request.customer_id,
        request.currency,
        now,
        request.source_type,
        request.source_id,
        amount,
    )


class _TakeBackPlan:
    """How a take-back moves money, lot by lot. Credit is fungible:
    1. the source's own lots give what they still hold: pending first, then available
       (never what open reservations hold: `available_budget` is the unreserved money);
    2. what the customer never had the use of (expired, or held by a reservation) is
       clawed back, since the customer kept nothing of it;
    3. what the customer spent is covered from the customer's other credit, pending first,
       then available: the spending moves onto those lots, so each lot still adds up and
       every other source can still be taken back in full;
    4. only what that credit cannot cover is clawed back: recorded, never dropped."""

    def __init__(self, lots: list[dict[str, Any]], available_budget: int) -> None:
        self.lots = lots
        self.budget = available_budget
        self.changes = {lot["id"]: LotChange(id=lot["id"], state=lot["state"]) for lot in lots}
        self.others: list[LotChange] = []
        self.from_pending = self.from_available = self.clawback = 0
        self.left = 0
        self.to_cover = 0

    def _reversible(self, lot: dict[str, Any]) -> int:
        change = self.changes[lot["id"]]
        return (
            int(lot["amount"])
            - int(lot["taken_back"])
            - int(lot["clawed_back"])
            - change.taken_back
            - change.clawed_back
        )

    def _spent_open(self, lot: dict[str, Any]) -> int:
        """What of the lot was spent and is not reversed yet (earlier clawbacks count
        against what the customer never had the use of first)."""
        change = self.changes[lot["id"]]
        return max(0, min(int(lot["spent"]) + change.spent, self._reversible(lot)))

    def take_own(self, left: int) -> None:
        for lot in sorted(self.lots, key=lambda lot: lot["state"] != PENDING):
            if left <= 0:
                break
            if lot["state"] == PENDING:
                take = min(int(lot["remaining"]), left)
                self.from_pending += take
            elif lot["state"] == AVAILABLE:
                take = min(int(lot["remaining"]), left, self.budget)
                self.budget -= take
                self.from_available += take
            else:
                continue
            left -= take
            self.changes[lot["id"]].taken_back = take
        for lot in self.lots:  # what the customer never had the use of
            claw = min(left, self._reversible(lot) - self._spent_open(lot))
            if claw > 0:
                self.changes[lot["id"]].clawed_back += claw
                self.clawback += claw
                left -= claw
        self.left = left
        self.to_cover = min(left, sum(self._spent_open(lot) for lot in self.lots))

    def cover_from(self, others: list[dict[str, Any]]) -> None:
        """Take what the source's spent credit owes from the other lots, and move that
        much of the spending onto them."""
        wanted = self.to_cover
        for lot in others:
            if wanted <= 0:
                break
            if lot["state"] == PENDING:
                take = min(int(lot["remaining"]), wanted)
                self.from_pending += take
            else:
                take = min(int(lot["remaining"]), wanted, self.budget)
                self.budget -= take
                self.from_available += take
            if take <= 0:
                continue
            wanted -= take
            closed = take == int(lot["remaining"])
            self.others.append(
                LotChange(id=lot["id"], state=LOT_CLOSED if closed else lot["state"], spent=take)
            )
        covered = self.to_cover - wanted
        self.left -= covered
        for lot in self.lots:
            if covered <= 0:
                break
            moved = min(covered, self._spent_open(lot))
            change = self.changes[lot["id"]]
            change.spent -= moved
            change.taken_back += moved
            covered -= moved

    def finish(self) -> tuple[list[LotChange], list[int], TakeBack]:
        """The lots changed, the entries now wholly reversed, and the amounts; what is
        still left is clawed back."""
        for lot in self.lots:
            claw = min(self.left, self._reversible(lot))
            if claw > 0:
                self.changes[lot["id"]].clawed_back += claw
                self.clawback += claw
                self.left -= claw
        touched = list(self.others)
        reversed_entries = []
        for lot in self.lots:
            change = self.changes[lot["id"]]
            if not (change.taken_back or change.clawed_back):
                continue
            if change.taken == int(lot["remaining"]) and lot["state"] in (PENDING, AVAILABLE):
                change.state = LOT_CLOSED
            touched.append(change)
            if self._reversible(lot) == 0:
                reversed_entries.append(lot["entry_id"])
        return (
            touched,
            reversed_entries,
            TakeBack(self.from_pending, self.from_available, self.clawback),
        )
