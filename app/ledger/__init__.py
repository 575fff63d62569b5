"""The ledger: the only code that changes balances. Double entry, lots, wallets that
settle themselves, reservations.

Other features import this package (`from app import ledger`) and use only the names
below; the modules inside are the ledger's own:
- `values`: what the ledger hands out (Balance, Entry, ...), its account names and limits.
- `postings`: the writer of transfers and postings, and of lot changes (save the worker's
  bulk settle on PostgreSQL, whose one statement in `settling` writes a batch's MATURE
  transfers the same way); every transfer is announced (`TRANSFERS_CHANNEL` on PostgreSQL
  for the customers a listener `watch_transfers`, `on_transfer` on SQLite).
- `wallets`: the wallet row: locking it, applying deltas, its schedule.
- `settling`: lots mature and expire, reservations lapse; `settle_due_wallets`;
  `on_lots_matured`, where another feature hears of credits becoming available.
- `crediting`: `credit` and `take_back`.
- `forfeiting`: `forfeit_all`, a deleted account's credit back to the program.
- `expiring`: `credits_expiring`, the credit about to expire (for warnings).
- `exporting`: a customer's balances, activity and credits for their data export.
- `reservations`: `reserve`, `capture_reservation`, `release_reservation`.
- `reading`: balances, activity and program totals.
- `consistency`: `reconcile`, the check that every stored number agrees.
- `models` (the tables), `errors`, `types` (the GraphQL face).

Amounts are integers of the currency's minor unit. Every function works on its own and
inside a caller's `async with in_transaction():` block: it then runs in a savepoint of the
caller's transaction, so the caller's rows and the ledger's commit (or roll back) together.

How the money is kept (see models.py for the tables):
- Double entry: every movement is a transfer whose postings sum to zero, between a
  customer's PENDING / AVAILABLE / RESERVED accounts and the program's FUNDING / SPENT /
  EXPIRED / CLAWBACK / FORFEITED accounts. Transfers and postings are only ever inserted.
- Each credit is a lot. Spending (capturing a reservation) draws the soonest-expiring lots
  first. The wallet row holds the totals: available + reserved = what remains in AVAILABLE
  lots, pending = what remains in PENDING lots.
- The wallet also holds `next_change_at`: the earliest moment a lot matures or expires or a
  reservation lapses (never later than the true next change; an earlier value only causes a
  settle that finds little to do). Any read or write that finds it passed settles the wallet
  first, so balances are right with no background job; `settle_due_wallets` does the same
  in bulk for a worker.
- A reservation holds money, not lots. A lot that reaches its expiry while reservations hold
  all the available money is kept for them (the customer had started spending it): it is
  drawn first if the reservation is captured and expires as soon as it is released.
- Locks, always in this order: a reservation's own entry (capture, release), then the
  wallet row, then the wallet's lots and other entries. Lots change only under the wallet's
  lock. A debit is one conditional UPDATE (`... WHERE available >= x`); the CHECK
  constraints refuse any negative total anyway. Deadlocks (possible only when a
  reservation is captured at the very instant it lapses) and serialization failures are
  retried here and never reach the caller.
- On PostgreSQL the hot paths are single statements (a reservation is one statement that
  commits by itself; a capture is two), so a busy wallet is never locked across a round
  trip to the client. SQLite runs the same steps one statement at a time.
"""

from app.ledger.consistency import reconcile
from app.ledger.crediting import credit, take_back
from app.ledger.errors import (
    InsufficientBalance,
    ReservationClosed,
    ReservationExpired,
    UnknownReservation,
    WalletTotalTooLarge,
)
from app.ledger.expiring import ExpiringCredit, credits_expiring
from app.ledger.exporting import (
    customer_activity,
    customer_balances,
    customer_credits,
    customers_holding,
)
from app.ledger.forfeiting import FORFEIT, ReservationsStillOpen, forfeit_all
from app.ledger.postings import (
    TRANSFERS_CHANNEL,
    forget_gone_listeners,
    on_transfer,
    unwatch_transfers,
    watch_transfers,
)
from app.ledger.reading import (
    get_balance,
    get_entries,
    has_entries,
    list_entries,
    program_totals,
)
from app.ledger.reservations import (
    capture_reservation,
    release_reservation,
    reservation_status,
    reserve,
)
from app.ledger.settling import Matured, on_lots_matured, settle_due_wallets
from app.ledger.values import (
    FORFEITED,
    MAX_WALLET_TOTAL,
    Balance,
    Entry,
    Forfeited,
    ProgramTotals,
    TakeBack,
)

__all__ = [
    "FORFEIT",
    "FORFEITED",
    "MAX_WALLET_TOTAL",
    "TRANSFERS_CHANNEL",
    "Balance",
    "Entry",
    "ExpiringCredit",
    "Forfeited",
    "InsufficientBalance",
    "Matured",
    "ProgramTotals",
    "ReservationClosed",
    "ReservationExpired",
    "ReservationsStillOpen",
    "TakeBack",
    "UnknownReservation",
    "WalletTotalTooLarge",
    "capture_reservation",
    "credit",
    "credits_expiring",
    "customer_activity",
    "customer_balances",
    "customer_credits",
    "customers_holding",
    "forfeit_all",
    "forget_gone_listeners",
    "get_balance",
    "get_entries",
    "has_entries",
    "list_entries",
    "on_lots_matured",
    "on_transfer",
    "program_totals",
    "reconcile",
    "release_reservation",
    "reservation_status",
    "reserve",
    "settle_due_wallets",
    "take_back",
    "unwatch_transfers",
    "watch_transfers",
]
