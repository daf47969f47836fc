"""A bounded memory of what was worked out from a key the process sees over and over: an
account's headers, a model's name, a URL, a path.

Every such memory on the hot path forgets everything at once when full, so that a client
sending ever new keys (model ids, paths, headers) cannot grow it, and the keys in use come back
at their next miss. One rule for all of them, written once. ``IdMemo``: the same for what is
worked out from an object itself (a target, a URL object), keyed by its ``id()``.
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


class IdMemo(dict[K, V]):
    """A ``Memo`` whose keys name objects by ``id()`` (a target, a URL object): what was
    worked out from an object that is used over and over but costly to hash or compare by
    value. Each entry holds the objects its key names, so while it is there no other object
    can have their ids: a hit is that very object's, with no ``is`` check after the look-up.
    Entries are made with ``keep`` only (its holds go with them when it is emptied)."""

    __slots__ = ("_held", "limit")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._held: dict[K, tuple[object, ...]] = {}

    def keep(self, key: K, value: V, *held: object) -> V:
        """``value``, remembered under ``key``, whose ids are those of the objects ``held``.
        Held none, the entry may meet another object that came to have the same id: only a
        value right for any object goes there (``None`` for "not served this way")."""
        if len(self) >= self.limit:
            self.clear()
        self._held[key] = held
        self[key] = value
        return value

    def clear(self) -> None:
        super().clear()
        self._held.clear()
