"""Every segments test that uses the database records money through cashback: each ends
with the ledger reconciling."""

from tests.ledger.invariants import ledger_checked_db  # noqa: F401  (overrides `db`)
