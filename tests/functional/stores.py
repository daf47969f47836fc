"""Both store backends, on a clock the test moves: SQLite in a temporary file, DynamoDB in moto."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from moto import mock_aws

from llm_agg.store.base import Stores
from llm_agg.store.dynamodb import Tables, dynamodb_stores, ensure_tables
from llm_agg.store.sqlite import sqlite_stores
from llm_agg_local.moto_aws import Serialized

BACKENDS = ("sqlite", "dynamodb")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextmanager
def open_test_stores(kind: str, tmp: Path, clock: Clock) -> Iterator[Stores]:
    if kind == "sqlite":
        stores = sqlite_stores(tmp / "store.sqlite3", clock)
        try:
            yield stores
        finally:
            stores.close()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        ensure_tables(client, Tables())
        # DynamoDB applies each request atomically; moto needs a lock for that under threads.
        yield dynamodb_stores(Serialized(client), Tables(), clock)  # type: ignore[arg-type]
