"""The ledger: the only code that changes balances. Double entry, lots, wallets that
settle themselves, reservations."""
