"""Earning cashback: tiers, program rules, purchases, refunds, explanations and the
preview of a cart.

Its use cases are modules of their own: `tiers`, `rules`, `purchases` (recording),
`refunds`, `preview` and `history` (reading purchases), with `errors` and the pure
`earning`. No other feature calls into cashback (the catalogue's `Product.cashbackPercent`
is cashback's own `types.ProductFields`), so this package exports nothing and stays light:
feature discovery imports it.
"""
