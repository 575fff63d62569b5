"""Choosing the language of a text: the customer's locale, else the request's
Accept-Language, else the text as written (in the program's default language)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_HEADER_LENGTH = 500
MAX_LANGUAGES = 10


def accept_languages(header: str | None) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (at most 10;
    malformed parts are skipped, `*` means no preference)."""
    if not header or len(header) > MAX_HEADER_LENGTH:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[: MAX_LANGUAGES * 2]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if 0 < quality <= 1:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)[:MAX_LANGUAGES]]


def pick(translations: Mapping[str, T] | None, wanted: Sequence[str]) -> T | None:
    """The translation for the first wanted language that has one: the exact tag, else
    its language alone (`pt-BR` falls back to `pt`, and `pt` finds `pt-PT`)."""
    if not translations:
        return None
    by_lower = {tag.lower(): value for tag, value in translations.items()}
    for tag in wanted:
        key = tag.lower()
        if key in by_lower:
            return by_lower[key]
        language = key.split("-")[0]
        if language in by_lower:
            return by_lower[language]
        for other, value in by_lower.items():
            if other.split("-")[0] == language:
                return value
    return None
