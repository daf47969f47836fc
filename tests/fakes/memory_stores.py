"""In-memory doubles of the store Protocols the router uses (counters, expiring values, usage),
on an injected clock: enough to test quota and routing without a backend. The real backends
are tested by the store contract suite and by the router's concurrency test over both."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from llm_agg.store.base import Stores, UsageEvent, UsageRow


class MemoryCounters:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.values: dict[str, tuple[int, float]] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def increment(
        self, key: str, amount: int, expires_at: float, limit: int | None = None
    ) -> int | None:
        with self._lock:
            self.writes += 1
            value, expires = self.values.get(key, (0, expires_at))
            if expires <= self.clock():
                value, expires = 0, expires_at
            if limit is not None and value + amount > limit:
                return None
            self.values[key] = (value + amount, expires)
            return value + amount

    def get(self, key: str) -> int:
        value, expires = self.values.get(key, (0, 0.0))
        return value if expires > self.clock() else 0


class MemoryExpiring:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.values: dict[str, tuple[bytes, float]] = {}

    def put(self, key: str, value: bytes, expires_at: float) -> None:
        self.values[key] = (value, expires_at)

    def get(self, key: str) -> bytes | None:
        value, expires = self.values.get(key, (b"", 0.0))
        return value if expires > self.clock() else None

    def scan(self, prefix: str) -> dict[str, bytes]:
        now = self.clock()
        return {k: v for k, (v, e) in list(self.values.items()) if k.startswith(prefix) and e > now}


class MemoryUsage:
    def __init__(self) -> None:
        self.events: list[UsageEvent] = []

    def record(self, events: Sequence[UsageEvent]) -> None:
        self.events.extend(events)

    def query(self, start_day: str, end_day: str, provider: str | None = None) -> list[UsageRow]:
        raise NotImplementedError("the double keeps raw events: read .events")


def memory_stores(clock: Callable[[], float]) -> Stores:
    """The three the router uses; the others are absent (a test touching them fails loudly)."""
    absent: Any = None
    return Stores(
        credentials=absent,
        gateway_keys=absent,
        counters=MemoryCounters(clock),
        expiring=MemoryExpiring(clock),
        usage=MemoryUsage(),
        checkpoints=absent,
        responses=absent,
    )
