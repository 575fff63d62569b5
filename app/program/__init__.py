"""The program's settings: currency, maturing and validity of credits, redemption limits,
and its terms (every change of the terms is a new version)."""
