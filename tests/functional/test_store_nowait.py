"""Counter work on the event loop (``store/nowait.py``): done at once on the SQLite file when no
writer holds it, refused before any write when one does (then done in a thread). Exact counts
across processes, some on their loop and some in threads: test_store_sqlite.py."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_agg.api.errors import RateLimited
from llm_agg.background import Background
from llm_agg.limits.keys import admit
from llm_agg.runtime import _Opened
from llm_agg.settings import Settings
from llm_agg.store.base import CounterStore, GatewayKeyRecord, StoreError, Stores
from llm_agg.store.nowait import WouldBlock, counting
from llm_agg.store.sqlite import sqlite_stores
from llm_agg.stored import Stored

LIMIT = 300


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    opened = sqlite_stores(tmp_path / "store.sqlite3")
    try:
        yield opened
    finally:
        opened.close()


def _bump(counters: CounterStore) -> int | None:
    return counters.increment("shared", 1, time.time() + 60, limit=LIMIT)


def test_work_is_done_at_once_when_no_writer_holds_the_file(stores: Stores) -> None:
    counters = stores.counters
    assert counters.nowait(_bump) == 1  # type: ignore[attr-defined]
    assert counters.nowait(lambda c: c.get("shared")) == 1  # type: ignore[attr-defined]
    assert counters.get("shared") == 1


def test_a_writer_elsewhere_refuses_it_before_any_write(tmp_path: Path, stores: Stores) -> None:
    other = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
    try:
        with pytest.raises(WouldBlock):
            stores.counters.nowait(_bump)  # type: ignore[attr-defined]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert stores.counters.get("shared") == 0


@pytest.mark.anyio
async def test_refused_work_waits_for_the_writer_in_a_thread(
    tmp_path: Path, stores: Stores
) -> None:
    other = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO counters VALUES ('shared', 5, ?)", (time.time() + 60,))
    asked = asyncio.create_task(counting(stores.counters, _bump))
    await asyncio.sleep(0.2)
    assert not asked.done()  # waiting in its thread, not failed, and the loop still turns
    other.execute("COMMIT")
    other.close()
    assert await asked == 6  # counted after the other writer's 5


def test_work_that_fails_leaves_nothing_written(stores: Stores) -> None:
    record = GatewayKeyRecord("key_1", "h", None, 0.0, None, 1, None, "sk-llmagg-x")
    now = time.time()

    def twice(counters: CounterStore) -> None:
        _bump(counters)
        admit(counters, record, now)
        admit(counters, record, now)  # over its 1 request a minute: 429

    with pytest.raises(RateLimited):
        stores.counters.nowait(twice)  # type: ignore[attr-defined]
    assert stores.counters.get("shared") == 0
    assert stores.counters.nowait(_bump) == 1  # type: ignore[attr-defined]


def test_the_runtimes_lazy_store_is_not_opened_on_the_loop(tmp_path: Path) -> None:
    stored = Stored(Settings(data_dir=tmp_path / "data", environ={}))
    counters = _Opened(stored, "counters")
    with pytest.raises(WouldBlock):
        counters.nowait(_bump)
    assert not stored.opened  # opening (making the file) is left to a thread
    assert asyncio.run(counting(counters, _bump)) == 1  # type: ignore[arg-type]
    assert stored.opened
    assert counters.nowait(_bump) == 2
    stored.stores.close()


@pytest.mark.anyio
async def test_counting_after_a_call_is_done_on_the_loop_or_in_a_thread(
    tmp_path: Path, stores: Stores
) -> None:
    background = Background()
    background.spawn_counting(stores.counters, _bump)  # the file is free: done at once
    assert background.pending == 0
    assert stores.counters.get("shared") == 1
    other = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    background.spawn_counting(stores.counters, _bump)  # a writer holds it: a thread waits
    assert background.pending == 1
    other.execute("COMMIT")
    other.close()
    await background.drain()
    assert stores.counters.get("shared") == 2


def test_counting_that_fails_after_a_call_is_logged_not_raised(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(counters: CounterStore) -> None:
        counters.increment("shared", 1, time.time() + 60)
        raise StoreError("sqlite: the disk is full")

    async def run() -> None:
        Background().spawn_counting(stores.counters, broken)

    asyncio.run(run())
    assert "the disk is full" in caplog.text
    assert stores.counters.get("shared") == 0  # its transaction was rolled back
