"""The ledger's tables. Only app/ledger writes them.

A customer's money lives in a wallet per currency, identified by (customer_id, currency).
- `Wallet`: the current totals (one row read gives the balance) and the next moment the
  wallet changes by itself (a lot maturing or expiring, a reservation lapsing).
- `Lot`: one credit (amount, what remains of it, when it matures and expires, where it came
  from); spending draws the soonest-expiring lots first.
- `Entry`: one line of the customer's activity with its current status. A reservation is
  the REDEMPTION entry keyed by `reservation_key`.
- `Transfer` and `Posting`: double entry, append-only. Each transfer's postings sum to zero.
  Customer accounts are (customer, currency, PENDING | AVAILABLE | RESERVED); program
  accounts are (currency, FUNDING | SPENT | EXPIRED | CLAWBACK | FORFEITED), each posting naming the
  customer it concerns. Program accounts keep no stored balance (a hot row every
  transaction would queue on); their balance is the sum of their postings.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class Wallet(Model):
    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    available = fields.BigIntField(default=0)
    pending = fields.BigIntField(default=0)
    reserved = fields.BigIntField(default=0)
    lifetime_earned = fields.BigIntField(default=0)
    # The earliest moment something changes by itself; NULL when nothing is scheduled.
    next_change_at = fields.DatetimeField(null=True)
    next_expiry_amount = fields.BigIntField(null=True)
    next_expiry_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "ledger_wallets"
        unique_together = (("customer_id", "currency"),)
        indexes = [Index(fields=("next_change_at",), name="ledger_wallets_due")]
        constraints = [
            CheckConstraint(check="available >= 0", name="ledger_wallets_available_check"),
            CheckConstraint(check="pending >= 0", name="ledger_wallets_pending_check"),
            CheckConstraint(check="reserved >= 0", name="ledger_wallets_reserved_check"),
            CheckConstraint(
                check="lifetime_earned >= 0", name="ledger_wallets_lifetime_earned_check"
            ),
        ]


class Entry(Model):
    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    # CASHBACK BONUS REFERRAL REDEMPTION REVERSAL EXPIRY ADJUSTMENT
    kind = fields.CharField(max_length=16)
    # PENDING AVAILABLE RESERVED COMPLETED RELEASED EXPIRED REVERSED
    status = fields.CharField(max_length=16)
    amount = fields.BigIntField()
    occurred_at = fields.DatetimeField()
    available_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    description = fields.CharField(max_length=500)
    merchant_id = fields.BigIntField(null=True)
    source_type = fields.CharField(max_length=32, null=True)
    source_id = fields.BigIntField(null=True)
    details: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    terms_version = fields.IntField(null=True)
    idempotency_key = fields.CharField(max_length=200, null=True, unique=True)
    reservation_key = fields.CharField(max_length=200, null=True, unique=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "ledger_entries"
        indexes = [
            Index(fields=("customer_id", "occurred_at", "id"), name="ledger_entries_activity"),
            Index(
                fields=("customer_id", "currency", "kind", "status", "expires_at"),
                name="ledger_entries_open",
            ),
        ]
        constraints = [CheckConstraint(check="amount >= 0", name="ledger_entries_amount_check")]


class Lot(Model):
    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    entry: fields.ForeignKeyRelation[Entry] = fields.ForeignKeyField(
        "ledger.Entry", related_name="lots", on_delete=fields.RESTRICT
    )
    # PENDING (not yet matured), AVAILABLE, CLOSED (nothing left), EXPIRED, FORFEITED
    # (the account was deleted; `remaining` is what the lot held then, moved to FORFEITED)
    state = fields.CharField(max_length=16)
    amount = fields.BigIntField()
    remaining = fields.BigIntField()
    spent = fields.BigIntField(default=0)
    expired = fields.BigIntField(default=0)
    taken_back = fields.BigIntField(default=0)
    # What a take-back could not take from `remaining` (spent or expired): on CLAWBACK.
    clawed_back = fields.BigIntField(default=0)
    available_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    source_type = fields.CharField(max_length=32)
    source_id = fields.BigIntField()
    merchant_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "ledger_lots"
        indexes = [
            Index(
                fields=("customer_id", "currency", "state", "expires_at"), name="ledger_lots_spend"
            ),
            Index(
                fields=("customer_id", "currency", "state", "available_at"),
                name="ledger_lots_mature",
            ),
            Index(
                fields=("customer_id", "currency", "source_type", "source_id"),
                name="ledger_lots_source",
            ),
        ]
        constraints = [
            CheckConstraint(check="amount > 0", name="ledger_lots_amount_check"),
            CheckConstraint(
                check="remaining >= 0 AND remaining <= amount", name="ledger_lots_remaining_check"
            ),
            CheckConstraint(
                check="spent >= 0 AND expired >= 0 AND taken_back >= 0 AND clawed_back >= 0",
                name="ledger_lots_parts_check",
            ),
            CheckConstraint(
                check="remaining + spent + expired + taken_back = amount",
                name="ledger_lots_sum_check",
            ),
            CheckConstraint(
                check="taken_back + clawed_back <= amount", name="ledger_lots_reversal_check"
            ),
        ]


class Transfer(Model):
    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    # CREDIT MATURE EXPIRE RESERVE CAPTURE RELEASE TAKE_BACK FORFEIT
    kind = fields.CharField(max_length=16)
    entry: fields.ForeignKeyNullableRelation[Entry] = fields.ForeignKeyField(
        "ledger.Entry", related_name="transfers", null=True, on_delete=fields.RESTRICT
    )
    details: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "ledger_transfers"
        indexes = [
            Index(fields=("customer_id", "currency"), name="ledger_transfers_wallet"),
            # Transfers by time (the metrics now read ledger_postings_period instead).
            Index(fields=("created_at",), name="ledger_transfers_created"),
        ]


class Posting(Model):
    id = fields.BigIntField(primary_key=True)
    transfer: fields.ForeignKeyRelation[Transfer] = fields.ForeignKeyField(
        "ledger.Transfer", related_name="postings", on_delete=fields.RESTRICT
    )
    customer_id = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    # PENDING AVAILABLE RESERVED (the customer's); FUNDING SPENT EXPIRED CLAWBACK FORFEITED
    # (the program's)
    account = fields.CharField(max_length=16)
    amount = fields.BigIntField()
    # The transfer's `created_at`, copied at write (app/ledger/postings.py) so that the
    # books of a period read the postings alone, by account and time. Nullable only because
    # the migration that added it backfilled it: every posting has it.
    created_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ledger_postings"
        indexes = [
            Index(fields=("customer_id", "currency", "account"), name="ledger_postings_account"),
            # A transfer's lines, and the foreign key's own checks.
            Index(fields=("transfer_id",), name="ledger_postings_transfer"),
            # The program's books of a period and balances as of a moment (app/insights):
            # every column they read, so PostgreSQL answers from the index alone.
            Index(
                fields=("account", "currency", "created_at", "amount"),
                name="ledger_postings_period",
            ),
        ]
