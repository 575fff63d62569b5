"""Cashback and loyalty backend."""
