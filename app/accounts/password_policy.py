"""Which passwords a customer may choose: at least 10 characters, not one of the most
common passwords (nor one of them padded with digits or symbols), and not their own
email or name."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
# Argon2 hashes any length; a cap keeps a huge body from costing much more.
MAX_LENGTH = 256

_PADDING = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_SEPARATORS = re.compile(r"[\s._\-+]+")
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "3": "e", "$": "s", "5": "s"})


@cache
def common_passwords() -> frozenset[str]:
    text = (Path(__file__).parent / "common_passwords.txt").read_text()
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _variants(password: str) -> set[str]:
    lowered = password.casefold()
    stripped = _PADDING.sub("", lowered)
    return {lowered, stripped, lowered.translate(_LEET), stripped.translate(_LEET)}


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", text.casefold())


def password_problem(
    password: str, *, email: str | None = None, display_name: str | None = None
) -> str | None:
    """Why `password` may not be used, or None when it may."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password must have at most {MAX_LENGTH} characters."
    if len(set(password)) <= 2:
        return "The password repeats too few characters."
    if _variants(password) & common_passwords():
        return "This password is too common; choose another."
    personal = set()
    if email:
        personal |= {_compact(email), _compact(email.split("@", 1)[0])}
    if display_name:
        personal.add(_compact(display_name))
    personal.discard("")
    compact = _compact(password)
    if compact in personal or _PADDING.sub("", compact) in personal:
        return "The password must not be your email or your name."
    return None
