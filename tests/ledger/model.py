"""A pure-Python model of the money core, for the stateful test in test_model.py.

It follows SEMANTICS.md (Money, Earning cashback, Redeeming, Tiers) for one store of one
merchant with a plain cashback percent (no rules, no offers, no items), and keeps the
credits as lots the way the ledger does, so every balance can be predicted to the cent:

- A purchase earns `floor(paid * percent * tier multiplier / 100)`, where `paid` is the
  total less `creditsUsed` and less the redemptions captured for its externalId; the tier
  comes from the spend of the last 365 days (net of refunds) before the purchase.
- A credit is a lot: PENDING until `occurredAt + pendingDays`, then AVAILABLE until it
  expires `creditValidityDays` later.
- A reservation (an open redemption) holds money, not lots. A capture draws the money from
  the AVAILABLE lots, soonest-expiring first (ties by creation). Available lots past their
  expiry expire at once, except what open reservations hold: expiry takes at most the
  unreserved available money, soonest-expiring first.
- A refund takes back `cashback - floor(cashback * kept / total)` less what earlier refunds
  took (app/cashback/refunds.py), by the four steps of the ledger's take-back
  (app/ledger/crediting.py, `_TakeBackPlan`): the purchase's own pending then available
  credit (the latter within the unreserved money); a clawback of what the customer never
  had the use of (expired, or held by reservations); what the customer spent, from the
  customer's other pending (latest maturing first) then available (soonest expiring first)
  credit, the spending moving onto those lots; a clawback of the rest.

Time moves money by itself: `settle` applies what is due at `now` (lots mature, lapsed
reservations give their money back, lots expire), as the ledger does whenever a wallet is
read or written. Every operation first checks everything that could refuse it and raises
`Refused` with the error codes the service gives, before changing anything: a refused
operation leaves the model as it was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor

PENDING = "PENDING"
AVAILABLE = "AVAILABLE"
CLOSED = "CLOSED"
EXPIRED = "EXPIRED"

RESERVED = "RESERVED"
CAPTURED = "CAPTURED"
RELEASED = "RELEASED"

TIER_WINDOW = timedelta(days=365)
FUTURE_TOLERANCE = timedelta(minutes=10)
VALIDITY = {"IN_STORE": timedelta(minutes=10), "ONLINE": timedelta(minutes=30)}


class Refused(Exception):
    """The service must refuse the operation with these error codes (and change nothing)."""

    def __init__(self, *codes: str) -> None:
        self.codes = frozenset(codes)
        super().__init__(", ".join(sorted(codes)))


@dataclass
class Lot:
    id: int  # creation order: the ledger's tie-break
    customer: int
    source: int  # the model's purchase number
    state: str
    amount: int
    remaining: int
    available_at: datetime
    expires_at: datetime
    spent: int = 0
    expired: int = 0
    taken_back: int = 0
    clawed_back: int = 0

    def row(self) -> tuple[str, int, int, int, int, int, int]:
        return (
            self.state,
            self.amount,
            self.remaining,
            self.spent,
            self.expired,
            self.taken_back,
            self.clawed_back,
        )


@dataclass
class Purchase:
    number: int
    external_id: str
    customer: int
    total: int
    credits_used: int
    occurred_at: datetime
    cashback: int
    tier: str
    refunded: int = 0
    reversed: int = 0
    db_id: int | None = None  # the service's id, once recorded


@dataclass
class Redemption:
    key: str
    customer: int
    amount: int
    channel: str
    order_total: int | None
    expires_at: datetime
    status: str = RESERVED  # as the row stores it (a lapsed one may still say RESERVED)
    order_reference: str | None = None
    db_id: int | None = None
    code: str | None = None


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    reserved: int
    lifetime_earned: int
    next_expiry_amount: int | None
    next_expiry_at: datetime | None


@dataclass(frozen=True)
class TakeBack:
    from_pending: int
    from_available: int
    clawback: int


@dataclass(frozen=True)
class Tier:
    code: str
    multiplier: Decimal
    minimum_spend: int


@dataclass
class Program:
    pending_days: int
    credit_validity_days: int
    max_redemption_share: Decimal
    minimum_redemption: int


@dataclass
class Model:
    now: datetime
    percent: Decimal
    tiers: list[Tier]
    program: Program
    lots: list[Lot] = field(default_factory=list)
    purchases: dict[str, Purchase] = field(default_factory=dict)
    refunds: dict[str, tuple[str, int]] = field(default_factory=dict)
    redemptions: list[Redemption] = field(default_factory=list)
    captured_for_order: dict[str, int] = field(default_factory=dict)
    has_wallet: set[int] = field(default_factory=set)
    # How often the rarer paths were taken (a run prints it: the test's reach).
    seen: Counter[str] = field(default_factory=Counter)

    # ------------------------------------------------------------------ reading

    def lots_of(self, customer: int) -> list[Lot]:
        return [lot for lot in self.lots if lot.customer == customer]

    def is_open(self, redemption: Redemption) -> bool:
        """Whether it still holds money: RESERVED and not lapsed."""
        return redemption.status == RESERVED and redemption.expires_at > self.now

    def status(self, redemption: Redemption) -> str:
        """As the service reads it: a lapsed RESERVED one is EXPIRED."""
        if redemption.status == RESERVED and redemption.expires_at <= self.now:
            return EXPIRED
        return redemption.status

    def reserved(self, customer: int) -> int:
        return sum(r.amount for r in self.redemptions if r.customer == customer and self.is_open(r))

    def available(self, customer: int) -> int:
        held = sum(lot.remaining for lot in self.lots_of(customer) if lot.state == AVAILABLE)
        return held - self.reserved(customer)

    def balance(self, customer: int) -> Balance:
        self.settle(customer)
        lots = self.lots_of(customer)
        upcoming = [
            lot.expires_at for lot in lots if lot.state == AVAILABLE and lot.expires_at > self.now
        ]
        next_at = min(upcoming, default=None)
        return Balance(
            available=self.available(customer),
            pending=sum(lot.remaining for lot in lots if lot.state == PENDING),
            reserved=self.reserved(customer),
            lifetime_earned=sum(lot.amount - lot.taken_back - lot.clawed_back for lot in lots),
            next_expiry_amount=(
                sum(
                    lot.remaining
                    for lot in lots
                    if lot.state == AVAILABLE and lot.expires_at == next_at
                )
                if next_at is not None
                else None
            ),
            next_expiry_at=next_at,
        )

    def tier_spend(self, customer: int) -> int:
        return sum(
            p.total - p.refunded
            for p in self.purchases.values()
            if p.customer == customer and p.occurred_at >= self.now - TIER_WINDOW
        )

    def tier_for(self, customer: int) -> Tier:
        spend = self.tier_spend(customer)
        return max(
            (t for t in self.tiers if spend >= t.minimum_spend), key=lambda t: t.minimum_spend
        )

    # ------------------------------------------------------------------ time

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def settle(self, customer: int) -> None:
        """What is due by now: lots mature, lapsed reservations give their money back (the
        `reserved` total reads them as closed), lots past their expiry expire within the
        unreserved money."""
        for lot in self.lots_of(customer):
            if lot.state == PENDING and lot.available_at <= self.now:
                lot.state = AVAILABLE
        self._expire_due(customer)

    def settle_all(self) -> None:
        for customer in sorted(self.has_wallet):
            self.settle(customer)

    def _expire_due(self, customer: int) -> None:
        left = self.available(customer)
        due = sorted(
            (
                lot
                for lot in self.lots_of(customer)
                if lot.state == AVAILABLE and lot.expires_at <= self.now
            ),
            key=lambda lot: (lot.expires_at, lot.id),
        )
        for lot in due:
            if left <= 0:
                break
            amount = min(lot.remaining, left)
            left -= amount
            lot.remaining -= amount
            lot.expired += amount
            if lot.remaining == 0:
                lot.state = EXPIRED
        if any(lot.state == AVAILABLE for lot in due):
            self.seen["credit past its expiry kept for a reservation"] += 1

    # ------------------------------------------------------------------ purchases

    def check_purchase(
        self,
        *,
        external_id: str,
        customer: int,
        total: int,
        credits_used: int | None,
        occurred_at: datetime,
    ) -> Purchase | None:
        """Refused, or the purchase it repeats (None when it is new)."""
        problems = []
        if occurred_at > self.now + FUTURE_TOLERANCE:
            problems.append("OCCURRED_IN_FUTURE")
        if credits_used is not None and credits_used > total:
            problems.append("INVALID_AMOUNT")
        if problems:
            raise Refused(*problems)
        existing = self.purchases.get(external_id)
        if existing is None:
            return None
        if (existing.total, existing.customer, existing.credits_used) != (
            total,
            customer,
            credits_used or 0,
        ):
            raise Refused("DUPLICATE_PURCHASE_MISMATCH")
        return existing

    def record_purchase(
        self,
        *,
        external_id: str,
        customer: int,
        total: int,
        credits_used: int | None,
        occurred_at: datetime,
    ) -> tuple[Purchase, bool]:
        """The purchase (recorded, or the one it repeats) and whether it is new."""
        existing = self.check_purchase(
            external_id=external_id,
            customer=customer,
            total=total,
            credits_used=credits_used,
            occurred_at=occurred_at,
        )
        if existing is not None:
            return existing, False
        used = credits_used or 0
        redeemed = min(self.captured_for_order.get(external_id, 0), max(0, total - used))
        paid = max(0, total - used - redeemed)
        tier = self.tier_for(customer)
        cashback = floor(Fraction(paid) * Fraction(self.percent) * Fraction(tier.multiplier) / 100)
        purchase = Purchase(
            number=len(self.purchases) + 1,
            external_id=external_id,
            customer=customer,
            total=total,
            credits_used=used,
            occurred_at=occurred_at,
            cashback=cashback,
            tier=tier.code,
        )
        self.purchases[external_id] = purchase
        if cashback > 0:
            available_at = occurred_at + timedelta(days=self.program.pending_days)
            if self.program.pending_days == 0:
                available_at = min(available_at, self.now)
            expires_at = available_at + timedelta(days=self.program.credit_validity_days)
            self._credit(customer, purchase.number, cashback, available_at, expires_at)
        return purchase, True

    def _credit(
        self, customer: int, source: int, amount: int, available_at: datetime, expires_at: datetime
    ) -> None:
        self.settle(customer)
        self.has_wallet.add(customer)
        self.lots.append(
            Lot(
                id=len(self.lots) + 1,
                customer=customer,
                source=source,
                state=AVAILABLE if available_at <= self.now else PENDING,
                amount=amount,
                remaining=amount,
                available_at=available_at,
                expires_at=expires_at,
            )
        )
        new = self.lots[-1]
        others = [lot for lot in self.lots_of(customer) if lot is not new]
        expired_before = sum(lot.expired for lot in others)
        self.settle(customer)
        if sum(lot.expired for lot in others) > expired_before:
            self.seen["new credit let credit kept for a reservation expire"] += 1
        if new.expired:
            self.seen["credit past its expiry when given"] += 1

    # ------------------------------------------------------------------ refunds

    def refund(self, *, external_id: str, amount: int, key: str) -> TakeBack | None:
        """What the refund took back (None when it repeats an earlier one with its key)."""
        if amount <= 0:
            raise Refused("INVALID_AMOUNT")
        purchase = self.purchases.get(external_id)
        if purchase is None:
            raise Refused("UNKNOWN_PURCHASE")
        first = self.refunds.get(key)
        if first is not None:
            if first != (external_id, amount):
                raise Refused("IDEMPOTENCY_KEY_REUSED")
            return None
        left = purchase.total - purchase.refunded
        if amount > left:
            raise Refused("REFUND_EXCEEDS_PURCHASE")
        self.refunds[key] = (external_id, amount)
        refunded = purchase.refunded + amount
        kept = purchase.cashback * (purchase.total - refunded) // purchase.total
        take = purchase.cashback - kept - purchase.reversed
        result = TakeBack(0, 0, 0)
        if take > 0:
            result = self._take_back(purchase.customer, purchase.number, take)
        purchase.refunded = refunded
        purchase.reversed += take
        return result

    def _take_back(self, customer: int, source: int, amount: int) -> TakeBack:
        """The ledger's take-back, step by step (see the module docstring)."""
        self.settle(customer)
        own = [lot for lot in self.lots_of(customer) if lot.source == source]
        left = min(amount, sum(_reversible(lot) for lot in own))
        if left <= 0:
            return TakeBack(0, 0, 0)
        others = [
            lot
            for lot in self.lots_of(customer)
            if lot.source != source
            and (lot.state == PENDING or (lot.state == AVAILABLE and lot.expires_at > self.now))
        ]
        plan = _TakeBackPlan(own, budget=self.available(customer), seen=self.seen)
        left = plan.take_own(left)
        left = plan.claw_back(left, what="the customer never had", of=_never_had)
        left = plan.cover(left, others)
        plan.claw_back(left, what="nothing covers", of=_reversible)
        return plan.finish()

    # ------------------------------------------------------------------ redemptions

    def find_redemption(self, customer: int, key: str) -> Redemption | None:
        for r in self.redemptions:
            if r.customer == customer and r.key == key:
                return r
        return None

    def start(
        self,
        *,
        customer: int,
        key: str,
        amount: int,
        channel: str,
        order_total: int | None,
    ) -> tuple[Redemption, bool]:
        """The redemption (started, or the one its key started) and whether it is new."""
        existing = self.find_redemption(customer, key)
        if existing is not None:
            if (existing.amount, existing.channel, existing.order_total) != (
                amount,
                channel,
                order_total,
            ):
                raise Refused("IDEMPOTENCY_KEY_REUSED")
            return existing, False
        problems = []
        if amount <= 0:
            problems.append("INVALID_AMOUNT")
        elif amount < self.program.minimum_redemption:
            problems.append("BELOW_MINIMUM")
        if order_total is not None and self.share_of(order_total) < amount:
            problems.append("ABOVE_MAXIMUM")
        if problems:
            raise Refused(*problems)
        self.settle(customer)
        if self.available(customer) < amount:
            raise Refused("INSUFFICIENT_BALANCE")
        redemption = Redemption(
            key=key,
            customer=customer,
            amount=amount,
            channel=channel,
            order_total=order_total,
            expires_at=self.now + VALIDITY[channel],
        )
        self.redemptions.append(redemption)
        return redemption, True

    def share_of(self, order_total: int) -> int:
        """What credits may pay of an order total (rounded down)."""
        return floor(Fraction(order_total) * Fraction(self.program.max_redemption_share))

    def capture(
        self,
        redemption: Redemption,
        *,
        order_reference: str,
        order_total: int | None,
        with_code: bool,
    ) -> bool:
        """Whether this call captured it (False: it repeats the capture it made)."""
        if redemption.channel == "IN_STORE" and not with_code:
            raise Refused("INVALID_INPUT")
        if redemption.status == CAPTURED:
            if redemption.order_reference == order_reference:
                return False
            raise Refused("ALREADY_CAPTURED")
        if redemption.status == RELEASED:
            raise Refused("REDEMPTION_NOT_OPEN")
        if redemption.status == EXPIRED:
            raise Refused("REDEMPTION_EXPIRED")
        if order_total is not None and self.share_of(order_total) < redemption.amount:
            raise Refused("ABOVE_MAXIMUM")
        if redemption.expires_at <= self.now:
            redemption.status = EXPIRED  # written down; its money went back when it lapsed
            raise Refused("REDEMPTION_EXPIRED")
        customer = redemption.customer
        self.settle(customer)
        redemption.status = CAPTURED
        redemption.order_reference = order_reference
        self.captured_for_order[order_reference] = (
            self.captured_for_order.get(order_reference, 0) + redemption.amount
        )
        left = redemption.amount
        for lot in sorted(
            (lot for lot in self.lots_of(customer) if lot.state == AVAILABLE),
            key=lambda lot: (lot.expires_at, lot.id),
        ):
            if left <= 0:
                break
            take = min(lot.remaining, left)
            left -= take
            lot.remaining -= take
            lot.spent += take
            if lot.remaining == 0:
                lot.state = CLOSED
            if take and lot.expires_at <= self.now:
                self.seen["capture drew credit past its expiry"] += 1
        assert left == 0, "the model's lots hold less than was reserved"
        return True

    def release(self, redemption: Redemption, *, by: int | None = None) -> None:
        """The customer cancels it (`by`, who must own it) or the partner releases it."""
        if by is not None and by != redemption.customer:
            raise Refused("NOT_FOUND")
        if redemption.status == CAPTURED:
            raise Refused("REDEMPTION_NOT_OPEN")
        if redemption.status != RESERVED:
            return
        if redemption.expires_at <= self.now:
            redemption.status = EXPIRED
            return
        self.settle(redemption.customer)
        redemption.status = RELEASED
        # Lots that reached their expiry while this reservation held them expire now.
        self._expire_due(redemption.customer)

    def expire_lapsed(self) -> int:
        """Rows still RESERVED past their expiry written down as EXPIRED: how many."""
        lapsed = [r for r in self.redemptions if r.status == RESERVED and r.expires_at <= self.now]
        for r in lapsed:
            r.status = EXPIRED
        return len(lapsed)


def _reversible(lot: Lot) -> int:
    """What of a lot's credit has not been taken back yet."""
    return lot.amount - lot.taken_back - lot.clawed_back


def _spent_open(lot: Lot) -> int:
    """What of the lot was spent and is not reversed yet (earlier clawbacks count against
    what the customer never had the use of first)."""
    return max(0, min(lot.spent, _reversible(lot)))


def _never_had(lot: Lot) -> int:
    """What of a lot's credit the customer never had the use of: expired, or (available)
    held by reservations."""
    return _reversible(lot) - _spent_open(lot)


class _TakeBackPlan:
    """A take-back of a purchase's credit (`own`, its lots), one step after another, each
    changing the lots as the ledger does."""

    def __init__(self, own: list[Lot], *, budget: int, seen: Counter[str]) -> None:
        self.own = own
        self.budget = budget  # the unreserved available money
        self.seen = seen
        self.from_pending = self.from_available = self.clawback = 0
        self.remaining_before = {lot.id: lot.remaining for lot in own}

    def _take(self, lot: Lot, wanted: int) -> int:
        """What a pending lot gives, or an available one within the budget."""
        if lot.state == PENDING:
            take = min(lot.remaining, wanted)
            self.from_pending += take
        else:
            take = min(lot.remaining, wanted, self.budget)
            self.budget -= take
            self.from_available += take
        return take

    def take_own(self, left: int) -> int:
        """1. The purchase's own credit: pending first, then available."""
        for lot in sorted(self.own, key=lambda lot: (lot.state != PENDING, lot.id)):
            if left <= 0:
                break
            if lot.state not in (PENDING, AVAILABLE):
                continue
            take = self._take(lot, left)
            left -= take
            lot.remaining -= take
            lot.taken_back += take
        return left

    def claw_back(self, left: int, *, what: str, of: Callable[[Lot], int]) -> int:
        """2. What the customer never had the use of; 4. what nothing covers."""
        for lot in self.own:
            claw = min(left, of(lot))
            if claw > 0:
                lot.clawed_back += claw
                self.clawback += claw
                left -= claw
                self.seen[f"take-back: clawback of what {what}"] += 1
        return left

    def cover(self, left: int, others: list[Lot]) -> int:
        """3. What the customer spent of it, from their other credit: pending (maturing
        last first), then available (expiring soonest first); the spending moves onto the
        lots that cover it."""
        to_cover = min(left, sum(_spent_open(lot) for lot in self.own))
        if not to_cover:
            return left
        pending = sorted(
            (lot for lot in others if lot.state == PENDING),
            key=lambda lot: (-lot.available_at.timestamp(), lot.expires_at, lot.id),
        )
        available = sorted(
            (lot for lot in others if lot.state == AVAILABLE),
            key=lambda lot: (lot.expires_at, lot.id),
        )
        wanted = to_cover
        for lot in [*pending, *available]:
            if wanted <= 0:
                break
            take = self._take(lot, wanted)
            wanted -= take
            lot.remaining -= take
            lot.spent += take
            if take and lot.remaining == 0:
                lot.state = CLOSED
        covered = to_cover - wanted
        if covered:
            self.seen["take-back: spent credit covered by other credit"] += 1
        left -= covered
        for lot in self.own:
            moved = min(covered, _spent_open(lot))
            lot.spent -= moved
            lot.taken_back += moved
            covered -= moved
        return left

    def finish(self) -> TakeBack:
        for lot in self.own:
            if lot.state in (PENDING, AVAILABLE) and lot.remaining == 0:
                assert self.remaining_before[lot.id] > 0
                lot.state = CLOSED
        return TakeBack(self.from_pending, self.from_available, self.clawback)
