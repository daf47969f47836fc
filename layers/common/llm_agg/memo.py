"""A bounded memory of what was worked out from a key the process sees over and over: an
account's headers, a model's name, a URL, a path.

Every such memory on the hot path forgets everything at once when full, so that a client
sending ever new keys (model ids, paths, headers) cannot grow it, and the keys in use come back
at their next miss. One rule for all of them, written once.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """A dict whose ``keep`` empties it first when it holds ``limit`` entries."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """``value``, remembered under ``key``."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
