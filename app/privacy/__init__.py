"""Customers' own data: the export of everything held about them, and deleting the account
(erasure of personal data, the books kept anonymised). Composes the other features through
their public `privacy` modules; each feature alone touches its tables."""
