"""Every privacy test that uses the database ends with the ledger reconciling and the
stored tier spend agreeing with the purchases, as the cashback tests do."""

from tests.cashback.conftest import cashback_checked_db  # noqa: F401  (overrides `db`)
