"""The money core against a model: a Hypothesis state machine drives the real services
(purchases, refunds, redemptions, the ledger's balances and reconciliation; no GraphQL) on
PostgreSQL, and a pure-Python model (tests/ledger/model.py) that follows SEMANTICS.md
predicts every balance to the cent.

After every step: for every customer, the service's available, pending, reserved,
lifetime earned and next expiry equal the model's; every lot holds what the model says
(remaining, spent, expired, taken back, clawed back); every redemption and purchase reads
as the model says; and `reconcile()` finds nothing (transfers sum to zero, stored totals
equal their postings and lots, nothing negative). An operation the model refuses must be
refused with the same error codes, and since the model then changes nothing, the check
after it proves that it moved no money.

The world: three customers; one store of one merchant paying 10% cashback; tiers that a
few purchases reach (x1.25 from 300.00, x1.5 from 800.00, spent in the last 365 days net
of refunds), modelled; program settings drawn per example (pendingDays 0-3,
creditValidityDays 1-4, a minimum redemption, maxRedemptionShare 0.3, 0.5 or 1), and each
customer's first purchase made long enough ago that its cashback is available. The clock
moves by minutes (redemptions lapse: 10 minutes in store, 30 online), days (credit matures
and expires, also while a redemption holds it) and a year (purchases leave the tier
window). Purchases may be backdated, repeated with their externalId, recorded in batches,
and paid partly with credits or with a redemption captured for their externalId.

Replaying a failure. A run draws a seed and prints it; a failure's message repeats it
(`replay with MODEL_SEED=...`), and Hypothesis prints the failing steps and a
`@reproduce_failure(...)` blob. Either replays it:

    MODEL_SEED=1234 ./scripts/test tests/ledger/test_model.py -x
    MODEL_BLOB='AXicY2BgYGQAAoZGBgYA' ./scripts/test tests/ledger/test_model.py -x

The seed runs the same examples again, shrinking included; the blob runs only the shrunk
failing example (with the same Hypothesis version). MODEL_EXAMPLES and MODEL_STEPS change
how many examples a run takes and how many steps each may have (200 and 50: about two
minutes here). `-s` shows what a run reached: each operation's outcomes and how often the
rare paths (a take-back covered by other credit, credit kept past its expiry for a
redemption, ...) were taken.

How it runs. The services are async and bound to the session's event loop and its
Tortoise connections (tests/conftest.py), while Hypothesis' rules are sync. The test is a
plain sync test: while it runs, the session's loop is idle, so each rule drives it with
`loop.run_until_complete(...)`: no second loop, thread or connection pool, and the services
run exactly as in every other test. The store, merchant, customers and tiers are made once
per run; between examples every other table is emptied (tests.conftest.truncate_tables
with `quick`: DELETE instead of TRUNCATE, milliseconds instead of 0.4 s). The clock is
frozen at a fixed moment (real time would leak milliseconds into every comparison with
the model) and moved only by `clock.advance`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

import hypothesis
import pytest
from hypothesis import HealthCheck, reproduce_failure, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app import db, ledger
from app.cashback import purchases as purchases_service
from app.cashback.models import Purchase as PurchaseRow
from app.cashback.models import Refund as RefundRow
from app.cashback.purchases import CustomerRef, PurchaseInput
from app.cashback.refunds import refund_purchase
from app.cashback.tiers import TierSpec, update_tiers
from app.core import clock
from app.core.errors import DomainError, DomainErrors
from app.core.ids import encode_id
from app.program.service import update_program
from app.redemptions import service as redemptions
from app.redemptions.models import Redemption as RedemptionRow
from app.settings import Settings
from tests.catalog.factories import make_merchant, make_store
from tests.conftest import truncate_tables
from tests.factories import make_customer
from tests.ledger import model as m

T = TypeVar("T")

CURRENCY = "USD"
PERCENT = Decimal(10)
TIERS = [
    m.Tier("BRONZE", Decimal("1.0"), 0),
    m.Tier("SILVER", Decimal("1.25"), 300_00),
    m.Tier("GOLD", Decimal("1.5"), 800_00),
]
CUSTOMERS = 3
ORDERS = 4  # order references shared by captures and purchases: "order-0" ... "order-3"
# Kept between examples: the world made once per run (none of these tables references a
# table that is emptied).
KEEP = frozenset(
    {
        "users",
        "catalog_merchants",
        "catalog_stores",
        "catalog_products",
        "program_settings",
        "program_terms_versions",
        "cashback_tiers",
    }
)
FROZEN_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

MAX_EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "200"))
STEPS = int(os.environ.get("MODEL_STEPS", "50"))

# What a run reached: operations by outcome, and the model's rare paths.
REACHED: Counter[str] = Counter()


class _FrozenDatetime(datetime):
    """`datetime` for app.core.clock: `now()` is always FROZEN_AT (clock.advance adds)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return FROZEN_AT if tz is not None else FROZEN_AT.replace(tzinfo=None)


@dataclass
class World:
    """What lives for the whole run: the loop the services are bound to, and the people
    and places every example uses."""

    loop: asyncio.AbstractEventLoop
    settings: Settings
    customers: list[int]
    member_codes: list[str]
    merchant_id: int
    store_id: int

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    @property
    def store_gid(self) -> str:
        return encode_id("Store", self.store_id)

    @property
    def merchant_gid(self) -> str:
        return encode_id("Merchant", self.merchant_id)


def money(minor: int) -> Decimal:
    return Decimal(minor) / 100


def codes_of(error: DomainError | DomainErrors) -> frozenset[str]:
    if isinstance(error, DomainErrors):
        return frozenset(str(e.code) for e in error.errors)
    return frozenset({str(error.code)})


@dataclass
class Outcome:
    """What the model predicted (None if it refused) and what the service returned."""

    predicted: Any
    refused: m.Refused | None
    result: Any


# Minutes lapse redemptions; days mature and expire credit; a year empties the tier window.
MOVES = st.sampled_from(
    [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=1),
        timedelta(days=1) - timedelta(minutes=10),
        timedelta(days=2),
        timedelta(days=2),
        timedelta(days=3),
        timedelta(days=366),
    ]
)
# A redemption's amount: relative to the available balance or the minimum, or any.
AMOUNTS = st.one_of(
    st.sampled_from(["all", "all", "half", "third", "over", "minimum", "below minimum"]),
    st.integers(1, 500),
)
# An order total whose share just covers the amount ("enough") or just misses it.
ORDER_TOTALS = st.sampled_from([None, None, None, "enough", "short"])
MOSTLY = st.sampled_from([True, True, True, False])
# Who closes a redemption: its customer, the store, or (refused) another customer.
CLOSERS = st.sampled_from(["owner", "owner", "store", "store", "another customer"])
# The first customer is drawn most, so that one wallet sees many operations in a row.
CUSTOMER = st.sampled_from([0, 0, 0, 1, 2])


class MoneyCore(RuleBasedStateMachine):
    """Each rule asks the model and calls one service; `matches_the_model` compares them
    after every step."""

    purchases = Bundle("purchases")  # external ids recorded
    refund_keys = Bundle("refund_keys")  # keys of refunds made
    started = Bundle("started")  # the model's redemptions

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        # A fresh example: the money tables emptied, the clock back at its frozen moment.
        world.run(truncate_tables(keep=KEEP, quick=True))
        clock.reset()
        REACHED["examples"] += 1
        self.model = m.Model(
            now=clock.now(),
            percent=PERCENT,
            tiers=TIERS,
            # Until `set_up_program`, the first step of every example, sets them.
            program=m.Program(0, 1, Decimal(1), 0),
        )
        self.numbers = itertools.count(1)

    def teardown(self) -> None:
        REACHED.update(self.model.seen)

    # ----------------------------------------------------------------- helpers

    def expect(
        self, name: str, predict: Callable[[], Any], call: Callable[[], Awaitable[Any]]
    ) -> Outcome:
        """Ask the model, then the service: a refusal by one must be a refusal by the
        other, with the same codes."""
        refused: m.Refused | None = None
        predicted = None
        try:
            predicted = predict()
        except m.Refused as refusal:
            refused = refusal
        result: Any = None
        error: DomainError | DomainErrors | None = None
        try:
            result = self.world.run(call())
        except (DomainError, DomainErrors) as failure:
            error = failure
        REACHED[f"{name}: {refused or 'done'}"] += 1
        if refused is not None:
            assert error is not None, f"{name}: the service accepted what the model refuses"
            assert codes_of(error) == refused.codes, (
                f"{name}: refused with {sorted(codes_of(error))},"
                f" the model says {sorted(refused.codes)}"
            )
        else:
            assert error is None, f"{name}: the service refused ({error!r}), the model would not"
        return Outcome(predicted, refused, result)

    def customer_id(self, customer: int) -> int:
        return self.world.customers[customer]

    def purchase_input(
        self,
        *,
        customer: int,
        external_id: str,
        total: int,
        credits_used: int | None,
        occurred_at: datetime,
    ) -> PurchaseInput:
        return PurchaseInput(
            store_id=self.world.store_gid,
            external_id=external_id,
            customer=CustomerRef(member_code=self.world.member_codes[customer]),
            total_amount=money(total),
            total_currency=CURRENCY,
            occurred_at=occurred_at,
            credits_used_amount=None if credits_used is None else money(credits_used),
            credits_used_currency=None if credits_used is None else CURRENCY,
        )

    def order_total(self, mode: str | None, amount: int) -> int | None:
        if mode is None:
            return None
        share = Fraction(self.model.program.max_redemption_share)
        enough = -(-amount * share.denominator // share.numerator)  # ceil(amount / share)
        assert self.model.share_of(enough) >= amount > self.model.share_of(enough - 1)
        return enough if mode == "enough" else enough - 1

    def check_purchase_row(self, purchase: m.Purchase, row: PurchaseRow) -> None:
        assert (row.customer_id, row.total_minor, row.cashback_minor, row.tier_code) == (
            self.customer_id(purchase.customer),
            purchase.total,
            purchase.cashback,
            purchase.tier,
        ), f"purchase {purchase.external_id}: cashback {row.cashback_minor} at tier"
        f" {row.tier_code}, the model says {purchase}"

    # ----------------------------------------------------------------- the program, time

    @initialize(
        target=purchases,
        pending_days=st.integers(0, 3),
        validity_days=st.integers(1, 4),
        minimum=st.sampled_from([1, 50, 200]),
        share=st.sampled_from([Decimal("0.5"), Decimal(1), Decimal("0.3")]),
        opening=st.lists(
            st.tuples(
                st.integers(5_000, 20_000),
                st.sampled_from([None, None, 1, 5, 10, 15]),
                st.sampled_from(["nothing", "half", "all", "hold"]),
                st.integers(0, 20_000),
            ),
            min_size=CUSTOMERS,
            max_size=CUSTOMERS,
        ),
    )
    def set_up_program(
        self,
        pending_days: int,
        validity_days: int,
        minimum: int,
        share: Decimal,
        opening: list[tuple[int, int | None, str, int]],
    ) -> Any:
        """The program's settings, and each customer's history: a purchase made
        `pendingDays` ago (its cashback available now), or so long ago that its cashback
        expires in a few minutes; some of it spent, or held by an open redemption; and a
        purchase made now (pending, unless pendingDays is 0). A refund of the first then
        takes back credit that was spent (from the second); a held one may expire while
        its redemption is open."""
        self.world.run(
            update_program(
                pending_days=pending_days,
                credit_validity_days=validity_days,
                max_redemption_share=share,
                minimum_redemption=(money(minimum), CURRENCY),
            )
        )
        self.model.program = m.Program(pending_days, validity_days, share, minimum)
        made = []
        for customer, (first, expires_in, spend, second) in enumerate(opening):
            made_at = self.model.now - timedelta(days=pending_days)
            if expires_in is not None:
                made_at += timedelta(minutes=expires_in) - timedelta(days=validity_days)
            made.append(self._record(customer, first, None, made_at))
            if spend != "nothing":
                available = self.model.available(customer)
                amount = max(1, available // 2 if spend == "half" else available)
                key = f"redeem-{next(self.numbers)}"
                redemption = self._start(customer, key, amount, "ONLINE", None)
                if redemption is not None and spend != "hold":
                    self._capture(redemption, ORDERS - 1, None, by_code=False)
            made.append(self._record(customer, second, None, self.model.now))
        return multiple(*(external_id for external_id in made if external_id))

    @rule(pending_days=st.integers(0, 3), validity_days=st.integers(1, 4))
    def change_periods(self, pending_days: int, validity_days: int) -> None:
        """New purchases follow the new periods; credit already given keeps its dates."""
        self.world.run(
            update_program(pending_days=pending_days, credit_validity_days=validity_days)
        )
        self.model.program.pending_days = pending_days
        self.model.program.credit_validity_days = validity_days

    @rule(move=MOVES, worker=st.booleans())
    def advance_clock(self, move: timedelta, worker: bool) -> None:
        """Time passes; the periodic job may run then (nothing depends on it)."""
        clock.advance(move)
        self.model.advance(move)
        if worker:
            outcome = self.expect(
                "expire lapsed redemptions", self.model.expire_lapsed, redemptions.expire_lapsed
            )
            assert outcome.result == outcome.predicted
            self.world.run(ledger.settle_due_wallets())

    # ----------------------------------------------------------------- purchases

    def _external_id(self, order: int | None) -> str:
        return f"order-{order}" if order is not None else f"ext-{next(self.numbers)}"

    def _record(
        self,
        customer: int,
        total: int,
        credits_used: int | None,
        occurred_at: datetime,
        order: int | None = None,
        *,
        external_id: str | None = None,
        name: str = "record purchase",
    ) -> str | None:
        """The purchase's external id if it was recorded now (not refused, no repeat)."""
        external_id = external_id or self._external_id(order)
        fields = {
            "customer": customer,
            "external_id": external_id,
            "total": total,
            "credits_used": credits_used,
            "occurred_at": occurred_at,
        }
        outcome = self.expect(
            name,
            lambda: self.model.record_purchase(**fields),
            lambda: purchases_service.record_purchase(
                purchase=self.purchase_input(**fields), merchant_scope=None
            ),
        )
        if outcome.refused is not None:
            return None
        purchase, created = outcome.predicted
        row = outcome.result
        self.check_purchase_row(purchase, row)
        if not created:
            assert row.id == purchase.db_id, "a repeat is the purchase recorded first"
            return None
        purchase.db_id = row.id
        return external_id

    @rule(
        target=purchases,
        customer=CUSTOMER,
        total=st.integers(0, 20_000),
        credits_used=st.one_of(st.none(), st.none(), st.integers(0, 2_000)),
        days_ago=st.integers(0, 8),
        minutes=st.sampled_from([0, 0, 0, 5, 10, 15, 30]),
        order=st.one_of(st.none(), st.none(), st.integers(0, ORDERS - 1)),
    )
    def record_purchase(
        self,
        customer: int,
        total: int,
        credits_used: int | None,
        days_ago: int,
        minutes: int,
        order: int | None,
    ) -> Any:
        """A purchase, backdated by some days and later by some minutes (so that its
        credit may expire inside a redemption's window; minutes ahead of now are refused
        past 10); one for an order a redemption was captured for earns only on what was
        paid with money."""
        occurred_at = self.model.now - timedelta(days=days_ago) + timedelta(minutes=minutes)
        return self._record(customer, total, credits_used, occurred_at, order) or multiple()

    @rule(
        target=purchases,
        customer=CUSTOMER,
        total=st.integers(1_000, 20_000),
        minutes=st.sampled_from([1, 5, 10, 15, 30]),
    )
    def record_purchase_expiring_soon(self, customer: int, total: int, minutes: int) -> Any:
        """A purchase made so long ago that its cashback expires in a few minutes: within
        the window of a redemption that may hold it."""
        program = self.model.program
        days = program.pending_days + program.credit_validity_days
        occurred_at = self.model.now - timedelta(days=days) + timedelta(minutes=minutes)
        return self._record(customer, total, None, occurred_at) or multiple()

    @rule(
        external_id=purchases,
        change=st.sampled_from([None, None, "total", "customer", "credits"]),
    )
    def retry_purchase(self, external_id: str, change: str | None) -> None:
        """The same externalId again: the same purchase, earning nothing more; with
        another total, customer or credits used it is refused."""
        first = self.model.purchases[external_id]
        customer, total, credits_used = first.customer, first.total, first.credits_used
        if change == "total":
            total += 1
        elif change == "customer":
            customer = (customer + 1) % CUSTOMERS
        elif change == "credits":
            credits_used += 1
        self._record(
            customer,
            total,
            credits_used,
            first.occurred_at,
            external_id=external_id,
            name="retry purchase",
        )

    @rule(
        target=purchases,
        batch=st.lists(
            st.tuples(
                CUSTOMER,
                st.integers(0, 20_000),
                st.one_of(st.none(), st.none(), st.integers(0, ORDERS - 1)),
            ),
            min_size=2,
            max_size=4,
        ),
    )
    def record_batch(self, batch: list[tuple[int, int, int | None]]) -> Any:
        """Several purchases in one call (each customer's in order, customers side by
        side): each stands on its own; a repeat within the batch earns nothing."""
        inputs = []
        predictions: list[tuple[m.Purchase, bool] | m.Refused] = []
        for customer, total, order in batch:
            fields = {
                "customer": customer,
                "external_id": self._external_id(order),
                "total": total,
                "credits_used": None,
                "occurred_at": self.model.now,
            }
            inputs.append(self.purchase_input(**fields))
            try:
                predictions.append(self.model.record_purchase(**fields))
            except m.Refused as refusal:
                predictions.append(refusal)
        outcomes = self.world.run(purchases_service.record_purchases(inputs, merchant_scope=None))
        recorded = []
        for predicted, outcome in zip(predictions, outcomes, strict=True):
            if isinstance(predicted, m.Refused):
                REACHED[f"record batch: {predicted}"] += 1
                assert outcome.error is not None, f"accepted what the model refuses: {predicted}"
                assert codes_of(outcome.error) == predicted.codes
                continue
            REACHED["record batch: done"] += 1
            assert outcome.error is None, f"refused: {outcome.error!r}"
            purchase, created = predicted
            assert outcome.created == created
            assert outcome.purchase is not None
            self.check_purchase_row(purchase, outcome.purchase)
            if created:
                purchase.db_id = outcome.purchase.id
                recorded.append(purchase.external_id)
        return multiple(*recorded)

    # ----------------------------------------------------------------- refunds

    @rule(
        target=refund_keys,
        external_id=purchases,
        how=st.one_of(st.sampled_from(["all", "half", "one", "over"]), st.integers(1, 99)),
    )
    def refund(self, external_id: str, how: str | int) -> Any:
        """Part or all of a purchase given back (all, half, a cent, more than is left, or
        some percent of what is left); more than is left is refused."""
        purchase = self.model.purchases[external_id]
        left = purchase.total - purchase.refunded
        amounts = {"all": left, "half": left // 2, "one": 1, "over": left + 1}
        amount = amounts[how] if isinstance(how, str) else max(1, left * how // 100)
        key = f"refund-{next(self.numbers)}"
        outcome = self._refund("refund", external_id, amount, key)
        return key if outcome.refused is None else multiple()

    @rule(key=refund_keys, same=MOSTLY)
    def retry_refund(self, key: str, same: bool) -> None:
        """The same idempotency key again: one effect; with another amount, refused."""
        external_id, amount = self.model.refunds[key]
        self._refund("retry refund", external_id, amount if same else amount + 1, key)

    def _refund(self, name: str, external_id: str, amount: int, key: str) -> Outcome:
        refunds_before = self.world.run(RefundRow.all().count())
        outcome = self.expect(
            name,
            lambda: self.model.refund(external_id=external_id, amount=amount, key=key),
            lambda: refund_purchase(
                store_id=self.world.store_gid,
                external_id=external_id,
                amount=money(amount),
                currency=CURRENCY,
                idempotency_key=key,
                reason=None,
                merchant_scope=None,
            ),
        )
        refunds_after = self.world.run(RefundRow.all().count())
        if outcome.refused is not None:
            assert refunds_after == refunds_before, "a refused refund was recorded"
            return outcome
        purchase = self.model.purchases[external_id]
        row: PurchaseRow = outcome.result
        assert (row.refunded_minor, row.cashback_reversed_minor) == (
            purchase.refunded,
            purchase.reversed,
        )
        took: m.TakeBack | None = outcome.predicted
        if took is None:
            assert refunds_after == refunds_before, "a repeated refund was recorded again"
            return outcome
        made = self.world.run(RefundRow.get(store_id=self.world.store_id, idempotency_key=key))
        assert (made.from_pending_minor, made.from_available_minor, made.clawback_minor) == (
            took.from_pending,
            took.from_available,
            took.clawback,
        ), (
            f"refund {key} took back {made.from_pending_minor} pending,"
            f" {made.from_available_minor} available and clawed back {made.clawback_minor};"
            f" the model says {took}"
        )
        return outcome

    # ----------------------------------------------------------------- redemptions

    def _start_new(
        self, channel: str, customer: int, how: str | int, total_mode: str | None
    ) -> Any:
        self.model.settle(customer)
        available = self.model.available(customer)
        minimum = self.model.program.minimum_redemption
        amounts = {
            "all": available,
            "half": available // 2,
            "third": available // 3,
            "over": available + 1,
            "minimum": minimum,
            "below minimum": minimum - 1,
        }
        amount = max(1, amounts[how] if isinstance(how, str) else how)
        key = f"redeem-{next(self.numbers)}"
        order_total = self.order_total(total_mode, amount)
        return self._start(customer, key, amount, channel, order_total) or multiple()

    # Online and in store are two rules, so that starting is drawn twice as often as a
    # rule of its own would be: most other steps need an open redemption.
    @rule(
        target=started,
        customer=CUSTOMER,
        how=AMOUNTS,
        total_mode=ORDER_TOTALS,
    )
    def start_online(self, customer: int, how: str | int, total_mode: str | None) -> Any:
        """Reserve credits: above the available balance, below the minimum or above the
        order total's share is refused. Online: 30 minutes, captured by its id."""
        return self._start_new("ONLINE", customer, how, total_mode)

    @rule(
        target=started,
        customer=CUSTOMER,
        how=AMOUNTS,
        total_mode=ORDER_TOTALS,
    )
    def start_in_store(self, customer: int, how: str | int, total_mode: str | None) -> Any:
        """In store: 10 minutes, captured with the one-time code the customer shows."""
        return self._start_new("IN_STORE", customer, how, total_mode)

    @rule(redemption=started, same=MOSTLY)
    def retry_start(self, redemption: m.Redemption, same: bool) -> None:
        """The same idempotency key again: the same redemption, whatever became of it;
        for another amount it is refused."""
        self._start(
            redemption.customer,
            redemption.key,
            redemption.amount if same else redemption.amount + 1,
            redemption.channel,
            redemption.order_total,
            name="retry start",
        )

    def _start(
        self,
        customer: int,
        key: str,
        amount: int,
        channel: str,
        order_total: int | None,
        name: str = "start redemption",
    ) -> m.Redemption | None:
        """The redemption if one was started now."""
        outcome = self.expect(
            name,
            lambda: self.model.start(
                customer=customer,
                key=key,
                amount=amount,
                channel=channel,
                order_total=order_total,
            ),
            lambda: redemptions.start_redemption(
                settings=self.world.settings,
                customer_id=self.customer_id(customer),
                merchant_id=self.world.merchant_gid,
                amount=money(amount),
                currency=CURRENCY,
                channel=channel,
                idempotency_key=key,
                order_total=None if order_total is None else (money(order_total), CURRENCY),
            ),
        )
        if outcome.refused is not None:
            return None
        redemption, created = outcome.predicted
        row: RedemptionRow = outcome.result
        assert (row.amount_minor, row.expires_at) == (redemption.amount, redemption.expires_at)
        if not created:
            assert row.id == redemption.db_id, "a repeat is the redemption started first"
            return None
        redemption.db_id = row.id
        if channel == "IN_STORE":
            redemption.code = redemptions.visible_code(
                row, viewer_customer_id=row.customer_id, settings=self.world.settings
            )
            assert redemption.code is not None
        return redemption

    @rule(
        redemption=started,
        order=st.integers(0, ORDERS - 1),
        total_mode=ORDER_TOTALS,
        by_code=MOSTLY,
    )
    def capture(
        self, redemption: m.Redemption, order: int, total_mode: str | None, by_code: bool
    ) -> None:
        """The store spends the reserved credits on an order (again for the same order:
        nothing more; for another order, or once it is no longer open, refused). In store
        it is named by its code."""
        self._capture(redemption, order, total_mode, by_code)

    def _open(self) -> list[m.Redemption]:
        return [r for r in self.model.redemptions if self.model.is_open(r)]

    @precondition(lambda self: bool(self._open()))
    @rule(order=st.integers(0, ORDERS - 1), total_mode=ORDER_TOTALS)
    def capture_newest_open(self, order: int, total_mode: str | None) -> None:
        """The usual story: the redemption just started is captured."""
        self._capture(self._open()[-1], order, total_mode, by_code=True)

    def _capture(
        self, redemption: m.Redemption, order: int, total_mode: str | None, by_code: bool
    ) -> None:
        by_code = by_code and redemption.channel == "IN_STORE"
        reference = f"order-{order}"
        order_total = self.order_total(total_mode, redemption.amount)
        self.expect(
            "capture",
            lambda: self.model.capture(
                redemption,
                order_reference=reference,
                order_total=order_total,
                with_code=by_code,
            ),
            lambda: redemptions.capture_redemption(
                settings=self.world.settings,
                merchant_scope=None,
                store_id=self.world.store_gid,
                code=redemption.code if by_code else None,
                redemption_id=None if by_code else encode_id("Redemption", redemption.db_id),
                order_reference=reference,
                order_total=None if order_total is None else (money(order_total), CURRENCY),
            ),
        )

    @rule(redemption=started, by=CLOSERS)
    def close(self, redemption: m.Redemption, by: str) -> None:
        """The customer gives it up, or the store releases it (the order did not go
        through): its credits are available again. Another customer cannot."""
        self._close(redemption, by)

    @precondition(lambda self: bool(self._open()))
    @rule(by=CLOSERS)
    def close_newest_open(self, by: str) -> None:
        self._close(self._open()[-1], by)

    def _close(self, redemption: m.Redemption, by: str) -> None:
        if by == "store":
            self.expect(
                "release",
                lambda: self.model.release(redemption),
                lambda: redemptions.release_redemption(
                    settings=self.world.settings,
                    merchant_scope=None,
                    store_id=self.world.store_gid,
                    code=None,
                    redemption_id=encode_id("Redemption", redemption.db_id),
                ),
            )
            return
        who = redemption.customer if by == "owner" else (redemption.customer + 1) % CUSTOMERS
        self.expect(
            "cancel",
            lambda: self.model.release(redemption, by=who),
            lambda: redemptions.cancel_redemption(
                customer_id=self.customer_id(who),
                redemption_id=encode_id("Redemption", redemption.db_id),
            ),
        )

    # ----------------------------------------------------------------- the invariant

    @invariant()
    def matches_the_model(self) -> None:
        assert clock.now() == self.model.now
        self.model.settle_all()
        self.world.run(self._compare())

    async def _compare(self) -> None:
        model = self.model
        for customer, customer_id in enumerate(self.world.customers):
            b = await ledger.get_balance(customer_id=customer_id, currency=CURRENCY)
            actual = m.Balance(
                b.available,
                b.pending,
                b.reserved,
                b.lifetime_earned,
                b.next_expiry_amount,
                b.next_expiry_at,
            )
            expected = model.balance(customer)
            assert actual == expected, f"customer {customer}: {actual}, the model says {expected}"
        lots = {
            int(row["source_id"]): (
                row["state"],
                int(row["amount"]),
                int(row["remaining"]),
                int(row["spent"]),
                int(row["expired"]),
                int(row["taken_back"]),
                int(row["clawed_back"]),
            )
            for row in await db.rows(
                "SELECT source_id, state, amount, remaining, spent, expired, taken_back,"
                " clawed_back FROM ledger_lots"
            )
        }
        purchase_ids = {p.number: p.db_id for p in model.purchases.values()}
        expected_lots = {purchase_ids[lot.source]: lot.row() for lot in model.lots}
        assert lots == expected_lots, f"lots by purchase {lots}, the model says {expected_lots}"
        rows = {row.id: row for row in await RedemptionRow.all()}
        for redemption in model.redemptions:
            status = redemptions.current_status(rows[redemption.db_id])
            assert status == model.status(redemption), (
                f"redemption {redemption.key} is {status}, the model says {redemption}"
            )
        purchases = {row.id: row for row in await PurchaseRow.all()}
        for purchase in model.purchases.values():
            row = purchases[purchase.db_id]
            assert (row.refunded_minor, row.cashback_reversed_minor) == (
                purchase.refunded,
                purchase.reversed,
            ), (
                f"purchase {purchase.external_id}: refunded {row.refunded_minor}, cashback"
                f" reversed {row.cashback_reversed_minor}; the model says {purchase}"
            )
        problems = await ledger.reconcile()
        assert not problems, "the ledger does not reconcile:\n" + "\n".join(problems)


@pytest.fixture
async def world(postgres_only: Settings) -> World:
    """The people and places of every example, made once (an account's password takes
    tens of milliseconds to hash)."""
    merchant = await make_merchant(percent=str(PERCENT))
    store = await make_store(merchant)
    customers = [await make_customer() for _ in range(CUSTOMERS)]
    await update_tiers(
        tiers=[
            TierSpec(t.code, t.code.title(), t.multiplier, money(t.minimum_spend), CURRENCY)
            for t in TIERS
        ]
    )
    return World(
        loop=asyncio.get_running_loop(),
        settings=postgres_only,
        customers=[c.id for c in customers],
        member_codes=[c.member_code for c in customers],
        merchant_id=merchant.id,
        store_id=store.id,
    )


def test_the_model_takes_back_as_semantics_says() -> None:
    """SEMANTICS.md's example, on the model alone: 5.00 earned on purchase A and 2.00 on B,
    3.00 spent (of A's credit, which expires first), 4.00 left: a refund of half of A takes
    back 2.50, leaving 1.50: the 2.00 that A still holds, and 0.50 of what was spent of A
    from B (that spending moves onto B)."""
    model = m.Model(
        now=FROZEN_AT,
        percent=PERCENT,
        tiers=TIERS[:1],
        program=m.Program(0, 30, Decimal(1), 1),
    )
    model.record_purchase(
        external_id="A", customer=0, total=50_00, credits_used=None, occurred_at=FROZEN_AT
    )
    model.advance(timedelta(days=1))
    model.record_purchase(
        external_id="B", customer=0, total=20_00, credits_used=None, occurred_at=model.now
    )
    redemption, _ = model.start(
        customer=0, key="r", amount=3_00, channel="ONLINE", order_total=None
    )
    model.capture(redemption, order_reference="order", order_total=None, with_code=False)
    assert model.balance(0).available == 4_00

    took = model.refund(external_id="A", amount=25_00, key="half")

    assert took == m.TakeBack(from_pending=0, from_available=2_50, clawback=0)
    assert model.balance(0).available == 1_50
    assert [lot.row() for lot in model.lots] == [
        ("CLOSED", 5_00, 0, 2_50, 0, 2_50, 0),  # state, amount, remaining, spent, expired,
        ("AVAILABLE", 2_00, 1_50, 50, 0, 0, 0),  # taken back, clawed back
    ]


@pytest.mark.postgres_only
@pytest.mark.slow
def test_the_money_core_follows_the_model(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "datetime", _FrozenDatetime)
    run_seed = int(os.environ.get("MODEL_SEED") or random.SystemRandom().randrange(2**32))
    print(f"MODEL_SEED={run_seed}")
    REACHED.clear()

    def machine() -> MoneyCore:
        return MoneyCore(world)

    factory: Any = seed(run_seed)(machine)
    blob = os.environ.get("MODEL_BLOB")
    if blob:
        factory = reproduce_failure(hypothesis.__version__, blob.encode())(factory)
    try:
        run_state_machine_as_test(
            factory,
            settings=settings(
                max_examples=MAX_EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,  # a run is replayed by its seed, not by a local file
                print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    except BaseException as failure:
        replay = f"MODEL_BLOB='{blob}'" if blob else f"MODEL_SEED={run_seed}"
        failure.add_note(f"replay with {replay} (see the module docstring)")
        raise
    finally:
        print("reached:")
        for what, times in sorted(REACHED.items()):
            print(f"  {what}: {times}")
