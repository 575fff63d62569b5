"""Every redemption test that uses the database ends with the ledger reconciling; the
concurrency stories run on two real server processes (tests/servers.py)."""

from tests.ledger.invariants import ledger_checked_db  # noqa: F401  (overrides `db`)
