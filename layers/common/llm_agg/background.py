"""Work that must not hold up a response: store writes after the answer has gone.

``spawn`` runs a blocking function in a thread as a task of the running loop (or at once when
there is none, as in a CLI); failures are logged, never raised into a request. ``drain``
waits for what is pending (shutdown, tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from llm_agg.store.base import CounterStore
from llm_agg.store.nowait import at_once

log = logging.getLogger("llm_agg.background")


def _guarded(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # a failed write must not take the gateway down
        log.warning("background %s failed: %s: %s", fn.__name__, type(exc).__name__, exc)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[None]] = set()

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _guarded(fn, *args)
            return
        task = loop.create_task(asyncio.to_thread(_guarded, fn, *args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def spawn_counting(self, counters: CounterStore, work: Callable[[CounterStore], Any]) -> None:
        """``spawn(work, counters)``, unless the store can do it at once on the loop (no other
        writer; ``store/nowait.py``): a thread hop costs more CPU than the statements."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop here (a CLI, a worker thread): done at once, as spawn does
            self.spawn(work, counters)
            return
        try:
            done = at_once(counters, work)
        except Exception as exc:
            log.warning("background count failed: %s: %s", type(exc).__name__, exc)
            return
        if done is None:  # a writer holds the file, or the store has no nowait: a thread
            self.spawn(work, counters)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
