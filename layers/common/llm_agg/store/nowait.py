"""Counter work of the hot path, done on the event loop when the store can do it at once.

Admission (a provider's request window), a gateway key's minute and its day's tokens each
cost a counter write before the call. In a thread that is a hop of ~50 µs of CPU each, for a
statement of ~10 µs on the local SQLite file. A store that can tell at once whether the write
would wait offers ``nowait``: the whole piece of work in one write transaction, taken only if
no other writer holds the file (this process's threads or another worker), else refused with
``WouldBlock`` before anything is written. The work then runs in a thread as before; so does
all of it on a store without ``nowait`` (DynamoDB: a network call is never run on the loop).
Counts stay exact across processes: the store's own transaction is what decides, as in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, TypeVar

from llm_agg.store.base import CounterStore

T = TypeVar("T")


class WouldBlock(Exception):
    """The store cannot do this work now without waiting; nothing was written."""


class NowaitCounters(Protocol):
    def nowait(self, work: Callable[[CounterStore], T]) -> T:
        """``work`` on counters in one write transaction, now, or ``WouldBlock``."""
        ...


def at_once(counters: CounterStore, work: Callable[[CounterStore], T]) -> tuple[T] | None:
    """``(work(counters),)`` when the store did it on the loop without waiting; None when it
    must go to a thread (a store without ``nowait``, or a writer holding the file)."""
    nowait: Callable[[Callable[[CounterStore], T]], T] | None = getattr(counters, "nowait", None)
    if nowait is None:
        return None
    try:
        return (nowait(work),)
    except WouldBlock:
        return None


async def counting(counters: CounterStore, work: Callable[[CounterStore], T]) -> T:
    """``work(counters)``: on the loop when the store can do it without waiting, else in a
    thread. Exceptions of ``work`` (a 429, a ``StoreError``) are raised either way."""
    done = at_once(counters, work)
    return done[0] if done is not None else await asyncio.to_thread(work, counters)
