"""Every CHECK constraint a model declares exists in the database the migrations made,
and refuses a row that breaks it: the last line of defence if a service ever writes a
negative amount or an impossible percent."""

from __future__ import annotations

import re

import pytest
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.migrations.constraints import CheckConstraint

from app import db as app_db
from tests.cashback.factories import purchase_input, record
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.support import Api


def declared_checks() -> list[tuple[str, str]]:
    """(table, constraint name) of every CHECK constraint the models declare."""
    found = []
    for app in Tortoise.apps.values():
        for model in app.values():
            for constraint in getattr(model._meta, "constraints", None) or ():
                if isinstance(constraint, CheckConstraint):
                    found.append((model._meta.db_table, constraint.name))
    return sorted(found)


async def existing_checks() -> set[tuple[str, str]]:
    if app_db.dialect() == "postgres":
        rows = await app_db.rows(
            "SELECT conrelid::regclass::text AS tbl, conname AS name FROM pg_constraint"
            " WHERE contype = 'c'"
        )
        return {(row["tbl"], row["name"]) for row in rows}
    # SQLite: in the table's own definition, or (added to a table that existed) triggers.
    found = set()
    for row in await app_db.rows("SELECT type, name, tbl_name, sql FROM sqlite_master"):
        if row["type"] == "trigger" and row["name"].endswith("_insert"):
            found.add((row["tbl_name"], row["name"].removesuffix("_insert")))
        elif row["type"] == "table":
            for table, name in declared_checks():
                if table == row["name"] and re.search(rf'CONSTRAINT "?{name}"?', row["sql"]):
                    found.add((table, name))
    return found


async def test_every_declared_check_constraint_exists(db) -> None:
    declared = declared_checks()
    assert len(declared) >= 20
    missing = [check for check in declared if check not in await existing_checks()]
    assert missing == []


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE cashback_purchases SET refunded_minor = total_minor + 1", "purchases_amounts"),
        ("UPDATE cashback_purchases SET cashback_minor = -1", "purchases_amounts"),
        ("UPDATE catalog_merchants SET cashback_percent = 101", "merchants_percent_range"),
        ("UPDATE customer_profiles SET spend_minor = -5", "customer_profiles_counts"),
    ],
)
async def test_a_row_breaking_a_check_is_refused_and_nothing_changes(
    api: Api, statement: str, constraint: str
) -> None:
    store = await make_store(percent="10")
    await record(api, store, purchase_input(store, await make_customer(), "20.00"))
    before = await app_db.rows(
        "SELECT total_minor, refunded_minor, cashback_minor FROM cashback_purchases"
    )

    with pytest.raises(IntegrityError, match=constraint):
        await app_db.execute(statement)

    after = await app_db.rows(
        "SELECT total_minor, refunded_minor, cashback_minor FROM cashback_purchases"
    )
    assert [dict(r) for r in after] == [dict(r) for r in before]
