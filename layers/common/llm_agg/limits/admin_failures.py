"""Wrong admin keys slow their sender down: after ``LIMIT`` failures from one client address
within ``WINDOW`` seconds, that address gets 429 until the window ends, right key or not (so
guessing is not merely slowed for wrong keys). Counted in the store, so every worker and
Lambda shares the count."""

from __future__ import annotations

from llm_agg.store.base import CounterStore

LIMIT = 10
WINDOW = 60.0


def _key(client: str) -> str:
    return f"admin-fail:{client}"


def blocked(counters: CounterStore, client: str) -> bool:
    """Whether ``client`` has used up its failures (blocking: call it in a thread)."""
    return counters.get(_key(client)) >= LIMIT


def failed(counters: CounterStore, client: str, now: float) -> None:
    """Count one failure of ``client``; the window starts at its first (blocking)."""
    counters.increment(_key(client), 1, expires_at=now + WINDOW)
