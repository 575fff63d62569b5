"""Customers, admins, partner systems; sessions, tokens, passwords and consents."""
