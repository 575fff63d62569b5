"""Earning cashback: tiers, program rules, purchases, refunds, explanations and the
preview of a cart."""
