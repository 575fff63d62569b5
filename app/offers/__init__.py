"""Exclusive offers: made by admins for an audience, shown to customers, applied at purchase."""
