"""Every suggestions test that uses the database ends with the ledger reconciling."""

from tests.ledger.invariants import ledger_checked_db  # noqa: F401  (overrides `db`)
