"""What a feature's fields read of the object they are joined to, named without
importing the feature that owns its table."""

from __future__ import annotations

from datetime import date
from typing import Protocol


class ViewerRoot(Protocol):
    """The signed-in customer as every feature's `ViewerFields` sees it: its id and what
    shapes what they are shown (birth date, language, consent to personalization). The row
    itself belongs to accounts."""

    @property
    def id(self) -> int: ...
    @property
    def birth_date(self) -> date | None: ...
    @property
    def locale(self) -> str | None: ...
    @property
    def consent_personalization(self) -> bool: ...
