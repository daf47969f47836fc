"""What only the SQLite backend has to prove: several worker processes share one file."""

from __future__ import annotations

import multiprocessing
import stat
import time
from pathlib import Path

from llm_agg.store.sqlite import sqlite_stores


def _bump(path: str, times: int, limit: int) -> int:
    stores = sqlite_stores(Path(path))
    try:
        granted = 0
        for _ in range(times):
            if stores.counters.increment("shared", 1, time.time() + 60, limit=limit) is not None:
                granted += 1
        return granted
    finally:
        stores.close()


def test_worker_processes_share_exact_counters(tmp_path: Path) -> None:
    path = str(tmp_path / "data" / "store.sqlite3")
    sqlite_stores(Path(path)).close()  # the file and its tables exist before the race
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        granted = pool.starmap(_bump, [(path, 120, 300)] * 3)

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
