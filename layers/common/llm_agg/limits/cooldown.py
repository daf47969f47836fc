"""Accounts that a provider asked us to leave alone until a given time."""

from __future__ import annotations

import time
from collections.abc import Callable

Key = tuple[str, str]  # (provider, account_id)


class Cooldowns:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[Key, float] = {}
        self.clock = clock

    def cool(self, key: Key, seconds: float) -> float:
        until = self.clock() + max(0.0, seconds)
        self._until[key] = max(until, self._until.get(key, 0.0))
        return until

    def until(self, key: Key) -> float | None:
        """When ``key`` may be used again, or None if it may be used now."""
        until = self._until.get(key)
        if until is None:
            return None
        if until <= self.clock():
            del self._until[key]
            return None
        return until
