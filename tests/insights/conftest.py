"""Every metrics test that uses the database ends with the ledger reconciling and the
stored tier spend agreeing with the purchases (the histories are made of real money)."""

from tests.cashback.conftest import cashback_checked_db

__all__ = ["cashback_checked_db"]
