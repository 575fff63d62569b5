"""The ledger's tables. The CHECK constraints come after the tables (CreateModel does not
create them) and before the indexes (on SQLite, adding a CHECK rebuilds the table, which
would drop indexes made earlier)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Entry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("customer_id", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("kind", fields.CharField(max_length=16)),
                ("status", fields.CharField(max_length=16)),
                ("amount", fields.BigIntField()),
                ("occurred_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "available_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("description", fields.CharField(max_length=500)),
                ("merchant_id", fields.BigIntField(null=True)),
                ("source_type", fields.CharField(null=True, max_length=32)),
                ("source_id", fields.BigIntField(null=True)),
                (
                    "details",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("terms_version", fields.IntField(null=True)),
                ("idempotency_key", fields.CharField(null=True, unique=True, max_length=200)),
                ("reservation_key", fields.CharField(null=True, unique=True, max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "ledger_entries", "app": "ledger", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Lot",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("customer_id", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                (
                    "entry",
                    fields.ForeignKeyField(
                        "ledger.Entry",
                        source_field="entry_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="lots",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("state", fields.CharField(max_length=16)),
                ("amount", fields.BigIntField()),
                ("remaining", fields.BigIntField()),
                ("spent", fields.BigIntField(default=0)),
                ("expired", fields.BigIntField(default=0)),
                ("taken_back", fields.BigIntField(default=0)),
                ("clawed_back", fields.BigIntField(default=0)),
                ("available_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("source_type", fields.CharField(max_length=32)),
                ("source_id", fields.BigIntField()),
                ("merchant_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "ledger_lots", "app": "ledger", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Transfer",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("customer_id", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("kind", fields.CharField(max_length=16)),
                (
                    "entry",
                    fields.ForeignKeyField(
                        "ledger.Entry",
                        source_field="entry_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="transfers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "details",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "ledger_transfers", "app": "ledger", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Posting",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "transfer",
                    fields.ForeignKeyField(
                        "ledger.Transfer",
                        source_field="transfer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="postings",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("customer_id", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("account", fields.CharField(max_length=16)),
                ("amount", fields.BigIntField()),
            ],
            options={"table": "ledger_postings", "app": "ledger", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Wallet",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("customer_id", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("available", fields.BigIntField(default=0)),
                ("pending", fields.BigIntField(default=0)),
                ("reserved", fields.BigIntField(default=0)),
                ("lifetime_earned", fields.BigIntField(default=0)),
                (
                    "next_change_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("next_expiry_amount", fields.BigIntField(null=True)),
                (
                    "next_expiry_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "ledger_wallets", "app": "ledger", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.AddConstraint(
            "Entry", CheckConstraint(check="amount >= 0", name="ledger_entries_amount_check")
        ),
        ops.AddConstraint(
            "Lot", CheckConstraint(check="amount > 0", name="ledger_lots_amount_check")
        ),
        ops.AddConstraint(
            "Lot",
            CheckConstraint(
                check="remaining >= 0 AND remaining <= amount", name="ledger_lots_remaining_check"
            ),
        ),
        ops.AddConstraint(
            "Lot",
            CheckConstraint(
                check="spent >= 0 AND expired >= 0 AND taken_back >= 0 AND clawed_back >= 0",
                name="ledger_lots_parts_check",
            ),
        ),
        ops.AddConstraint(
            "Lot",
            CheckConstraint(
                check="remaining + spent + expired + taken_back = amount",
                name="ledger_lots_sum_check",
            ),
        ),
        ops.AddConstraint(
            "Lot",
            CheckConstraint(
                check="taken_back + clawed_back <= amount", name="ledger_lots_reversal_check"
            ),
        ),
        ops.AddConstraint(
            "Wallet", CheckConstraint(check="available >= 0", name="ledger_wallets_available_check")
        ),
        ops.AddConstraint(
            "Wallet", CheckConstraint(check="pending >= 0", name="ledger_wallets_pending_check")
        ),
        ops.AddConstraint(
            "Wallet", CheckConstraint(check="reserved >= 0", name="ledger_wallets_reserved_check")
        ),
        ops.AddConstraint(
            "Wallet",
            CheckConstraint(
                check="lifetime_earned >= 0", name="ledger_wallets_lifetime_earned_check"
            ),
        ),
        ops.AddIndex(
            "Entry",
            Index(fields=["customer_id", "occurred_at", "id"], name="ledger_entries_activity"),
        ),
        ops.AddIndex(
            "Entry",
            Index(
                fields=["customer_id", "currency", "kind", "status", "expires_at"],
                name="ledger_entries_open",
            ),
        ),
        ops.AddIndex(
            "Lot",
            Index(
                fields=["customer_id", "currency", "state", "expires_at"], name="ledger_lots_spend"
            ),
        ),
        ops.AddIndex(
            "Lot",
            Index(
                fields=["customer_id", "currency", "state", "available_at"],
                name="ledger_lots_mature",
            ),
        ),
        ops.AddIndex(
            "Lot",
            Index(
                fields=["customer_id", "currency", "source_type", "source_id"],
                name="ledger_lots_source",
            ),
        ),
        ops.AddIndex(
            "Transfer", Index(fields=["customer_id", "currency"], name="ledger_transfers_wallet")
        ),
        ops.AddIndex(
            "Posting",
            Index(fields=["customer_id", "currency", "account"], name="ledger_postings_account"),
        ),
        ops.AddIndex("Posting", Index(fields=["transfer_id"], name="ledger_postings_transfer")),
        ops.AddIndex("Wallet", Index(fields=["next_change_at"], name="ledger_wallets_due")),
        ops.AddConstraint("Wallet", UniqueConstraint(fields=("customer_id", "currency"))),
    ]
