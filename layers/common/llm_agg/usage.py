"""Usage of every attempt, written to the store in batches after the answers have gone.

``record`` only appends to a buffer; the buffer is written when it is full or ``flush_every``
seconds after its first event, through ``Background`` (a thread), so no request waits on it.
``flush`` writes what is left (shutdown, tests).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime

from llm_agg.background import Background
from llm_agg.store.base import UsageEvent, UsageStore

# Client model ids go to usage rows as given only when the catalog (or a provider's model
# list) knows them; others share one row, so a client cannot fill the tables with made-up ids.
OTHER_MODEL = "(other)"
MAX_MODEL = 128

KnownModel = Callable[[str, str], bool]


def day_of(moment: float) -> str:
    """The UTC day of ``moment`` (epoch seconds), ``YYYY-MM-DD``: POSIX days are 86,400 s, so
    each day is formatted once, not on every usage record (2.4 -> 0.3 µs)."""
    return _day(int(moment // SECONDS_A_DAY))


SECONDS_A_DAY = 86_400


@functools.lru_cache(maxsize=8)
def _day(index: int) -> str:
    return datetime.fromtimestamp(index * SECONDS_A_DAY, UTC).strftime("%Y-%m-%d")


class UsageRecorder:
    def __init__(
        self,
        store: UsageStore,
        background: Background,
        clock: Callable[[], float] = time.time,
        flush_every: float = 0.5,
        max_batch: int = 200,
        known: KnownModel | None = None,
    ) -> None:
        self.known = known  # None: every id is recorded (bounded in length all the same)
        self.store = store
        self.background = background
        self.clock = clock
        self.flush_every = flush_every
        self.max_batch = max_batch
        self._buffer: list[UsageEvent] = []
        self._timer: asyncio.TimerHandle | None = None

    def record(
        self,
        *,
        provider: str,
        model: str,
        account_id: str,
        gateway_key: str | None,
        ok: bool,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_ms: float = 0.0,
        failure: str | None = None,
        attempt: int = 1,
    ) -> None:
        self._buffer.append(
            UsageEvent(
                day=day_of(self.clock()),
                provider=provider,
                model=self._model(provider, model),
                account_id=account_id,
                gateway_key=gateway_key or "-",
                ok=ok,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                latency_ms=latency_ms,
                failure=failure,
                attempt=attempt,
            )
        )
        if len(self._buffer) >= self.max_batch:
            self._write()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write()
                return
            self._timer = loop.call_later(self.flush_every, self._write)

    def _model(self, provider: str, model: str) -> str:
        if len(model) > MAX_MODEL or (self.known is not None and not self.known(provider, model)):
            return OTHER_MODEL
        return model

    def _write(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._buffer = self._buffer, []
        if batch:
            self.background.spawn(self.store.record, batch)

    async def flush(self) -> None:
        self._write()
        await self.background.drain()
