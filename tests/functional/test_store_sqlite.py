"""What only the SQLite backend has to prove: several worker processes share one file."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from llm_agg.store.base import CounterStore, CredentialRecord, UsageEvent
from llm_agg.store.nowait import counting
from llm_agg.store.sqlite import sqlite_stores


def _bump(path: str, times: int, limit: int, on_loop: bool = False) -> int:
    """One worker's increments: in its threads, or on its event loop when the file is free
    (``store/nowait.py``), as the hot path does them."""
    stores = sqlite_stores(Path(path))

    def bump(counters: CounterStore) -> int | None:
        return counters.increment("shared", 1, time.time() + 60, limit=limit)

    async def run() -> int:
        granted = 0
        for _ in range(times):
            if on_loop:
                value = await counting(stores.counters, bump)
            else:
                value = await asyncio.to_thread(bump, stores.counters)
            granted += value is not None
        return granted

    try:
        return asyncio.run(run())
    finally:
        stores.close()


@pytest.mark.parametrize("on_loop", [(False, False, False), (True, True, False, False)])
def test_worker_processes_share_exact_counters(tmp_path: Path, on_loop: tuple[bool, ...]) -> None:
    path = str(tmp_path / "data" / "store.sqlite3")
    sqlite_stores(Path(path)).close()  # the file and its tables exist before the race
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(on_loop)) as pool:
        granted = pool.starmap(_bump, [(path, 120, 300, loop) for loop in on_loop])

    assert sum(granted) == 300
    stores = sqlite_stores(Path(path))
    try:
        assert stores.counters.get("shared") == 300
    finally:
        stores.close()


def test_file_lives_in_a_private_folder_in_wal_mode(tmp_path: Path) -> None:
    stores = sqlite_stores(tmp_path / "fresh" / "store.sqlite3")
    stores.close()
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
    assert (tmp_path / "fresh" / "store.sqlite3").exists()
    header = (tmp_path / "fresh" / "store.sqlite3").read_bytes()[:20]
    assert header[18:20] == b"\x02\x02"  # file format bytes 2/2: write-ahead log


def test_the_files_are_the_owners_only_even_in_an_open_existing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = folder / "store.sqlite3"
    stores = sqlite_stores(path)
    stores.counters.increment("k", 1, time.time() + 60)  # the -wal and -shm files exist now
    files = [path, folder / "store.sqlite3-wal", folder / "store.sqlite3-shm"]
    assert [stat.S_IMODE(f.stat().st_mode) for f in files] == [0o600] * 3
    stores.close()


def test_files_an_older_version_left_open_are_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    sqlite_stores(path).close()
    for file in tmp_path.iterdir():
        file.chmod(0o644)
    sqlite_stores(path).close()
    assert {stat.S_IMODE(f.stat().st_mode) for f in tmp_path.iterdir()} == {0o600}


# The usage table as files written before failovers and error kinds were counted hold it.
_OLD_USAGE = """
CREATE TABLE usage (
    day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, account_id TEXT NOT NULL,
    gateway_key TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    PRIMARY KEY (day, provider, model, account_id, gateway_key));
INSERT INTO usage VALUES ('2026-01-01', 'groq', 'm1', 'a1', '-', 5, 2, 50, 20);
"""


def test_an_older_file_gains_the_new_usage_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(_OLD_USAGE)
    old.close()

    kept = []
    for _ in range(2):  # opening it again finds the columns there already
        stores = sqlite_stores(path)
        try:
            kept += stores.usage.query("2026-01-01", "2026-01-01")
            stores.usage.record(
                [UsageEvent("2026-01-01", "groq", "m1", "a1", "-", True, attempt=2)]
            )
        finally:
            stores.close()

    assert [(r.requests, r.errors, r.prompt_tokens) for r in kept] == [(5, 2, 50), (6, 2, 50)]
    assert [(r.failovers, dict(r.errors_by_kind)) for r in kept] == [(0, {}), (1, {})]
    stores = sqlite_stores(path)
    try:
        (now,) = stores.usage.query("2026-01-01", "2026-01-01")
    finally:
        stores.close()
    assert (now.requests, now.failovers) == (7, 2)


_OLD_CREDENTIALS = """
CREATE TABLE credentials (
    provider TEXT NOT NULL, account_id TEXT NOT NULL, sealed BLOB NOT NULL,
    enabled INTEGER NOT NULL, created_at REAL NOT NULL, last_used_at REAL, last_error TEXT,
    PRIMARY KEY (provider, account_id));
INSERT INTO credentials VALUES ('gemini', 'a1', X'00', 1, 5.0, NULL, NULL);
"""


def test_an_older_file_gains_the_quota_group_of_its_accounts(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(_OLD_CREDENTIALS)
    old.close()
    stores = sqlite_stores(path)
    try:
        assert [r.quota_group for r in stores.credentials.list()] == [None]
        assert stores.credentials.set_quota_group("gemini", "a1", "proj-1") is True
        stores.credentials.put(CredentialRecord("gemini", "a2", b"\x00", quota_group="proj-1"))
        assert [r.quota_group for r in stores.credentials.list()] == ["proj-1", "proj-1"]
    finally:
        stores.close()
