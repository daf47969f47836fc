"""``Stored.refreshing``: the router's question on every request, whether the stored accounts
must be read again, answered without a coroutine when they need not (issue 17)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

from llm_agg.settings import Settings
from llm_agg.store.base import StoreError
from llm_agg.stored import RETRY_AFTER_FAILURE, Stored


def done(work: Awaitable[None] | None) -> None:
    assert work is not None
    asyncio.run(_awaited(work))


async def _awaited(work: Awaitable[None]) -> None:
    await work


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_work_is_given_only_while_the_snapshot_is_stale_and_the_store_not_down(
    tmp_path: Path,
) -> None:
    clock = Clock()
    stored = Stored(Settings(data_dir=tmp_path, environ={}), monotonic=clock)
    try:
        done(stored.refreshing())  # never read: stale
        assert stored.refreshing() is None  # read: fresh
        clock.now += stored.vault.list_ttl
        done(stored.refreshing())  # stale again
        assert stored.refreshing() is None

        def broken() -> list[object]:
            raise StoreError("sqlite: disk I/O error")

        stored.stores.credentials.list = broken  # type: ignore[method-assign]
        clock.now += stored.vault.list_ttl
        done(stored.refreshing())  # the read fails
        assert stored.refreshing() is None  # down: not asked again before the retry
        clock.now += RETRY_AFTER_FAILURE
        done(stored.refreshing())  # tried again
    finally:
        stored.close()


def test_fresh_gives_the_snapshot_only_when_refreshing_has_no_work_and_the_store_is_up(
    tmp_path: Path,
) -> None:
    """``Stored.fresh``, the router's quick question: what ``accounts`` gives, exactly when
    ``refreshing`` would give nothing to do and the store is not known down."""
    clock = Clock()
    stored = Stored(Settings(data_dir=tmp_path, environ={}), monotonic=clock)
    try:
        assert stored.fresh() is None  # never read
        done(stored.refreshing())
        assert stored.fresh() is not None and stored.fresh() is stored.accounts()
        clock.now += stored.vault.list_ttl
        assert stored.fresh() is None  # stale: refreshing has work
        done(stored.refreshing())
        assert stored.fresh() is stored.accounts()

        def broken() -> list[object]:
            raise StoreError("sqlite: disk I/O error")

        stored.stores.credentials.list = broken  # type: ignore[method-assign]
        clock.now += stored.vault.list_ttl
        done(stored.refreshing())  # the read fails: down
        assert stored.fresh() is None and stored.accounts() == []
    finally:
        stored.close()
