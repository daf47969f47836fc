"""A key revoked through one worker stops working on the others within a few seconds."""

from __future__ import annotations

from pathlib import Path

from llm_agg.gateway_keys import MISS, REVOCATION_SECONDS, GatewayKeys, hash_key
from llm_agg.store.sqlite import sqlite_stores


def test_a_revoked_key_is_refused_by_another_worker_within_seconds(tmp_path: Path) -> None:
    now = [100.0]
    admin = GatewayKeys(sqlite_stores(tmp_path / "s.db").gateway_keys)
    worker = GatewayKeys(sqlite_stores(tmp_path / "s.db").gateway_keys, monotonic=lambda: now[0])
    made = admin.create("laptop")
    digest = hash_key(made.key)
    assert worker.lookup(digest) == made.record
    assert worker.peek(digest) == made.record  # cached: no store read

    admin.delete(made.record.key_id)  # on another worker: this one's cache knows nothing
    now[0] += REVOCATION_SECONDS + 0.1
    assert REVOCATION_SECONDS <= 5
    assert worker.peek(digest) is MISS  # stale: it asks the store again
    assert worker.lookup(digest) is None
