"""Redeeming credits: quotes, reservations, in-store codes, capture, release and expiry."""
