"""Trusted documents an admin registers beside the built-in ones (app/graphql/trusted.py)."""
