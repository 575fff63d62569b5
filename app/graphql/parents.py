"""What a feature's fields read of the object they are joined to, named without
importing the feature that owns its table."""

from __future__ import annotations

from typing import Protocol


class ViewerRoot(Protocol):
    """The signed-in customer as every feature's `ViewerFields` sees it: its id. The row
    itself belongs to accounts."""

    @property
    def id(self) -> int: ...
