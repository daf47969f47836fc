"""The embedded backend: one SQLite file under the data dir, shared by every worker process.

WAL lets readers run beside the one writer; each write is a single statement or one
``BEGIN IMMEDIATE`` transaction, so increments stay exact across threads and processes alike.
A process holds one connection behind a lock (SQLite serialises writers anyway), and a second
one for the counter writes of the hot path, run on the event loop only when they need not wait
(``SQLiteCounters.nowait``, ``store/nowait.py``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from llm_agg.store import histogram
from llm_agg.store.base import (
    MAX_CHECKPOINT_BYTES,
    MAX_RESPONSE_BYTES,
    Checkpoint,
    CounterStore,
    CredentialRecord,
    GatewayKeyRecord,
    ItemTooLarge,
    KeptResponse,
    StoreError,
    Stores,
    UsageEvent,
    UsageRow,
    VersionConflict,
)
from llm_agg.store.nowait import WouldBlock

T = TypeVar("T")

Clock = Callable[[], float]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    provider TEXT NOT NULL, account_id TEXT NOT NULL, sealed BLOB NOT NULL,
    enabled INTEGER NOT NULL, created_at REAL NOT NULL, last_used_at REAL, last_error TEXT,
    quota_group TEXT, PRIMARY KEY (provider, account_id));
CREATE TABLE IF NOT EXISTS gateway_keys (
    key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, name TEXT, created_at REAL NOT NULL,
    expires_at REAL, requests_per_minute INTEGER, tokens_per_day INTEGER, prefix TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, n INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS expiring (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, account_id TEXT NOT NULL,
    gateway_key TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    PRIMARY KEY (day, provider, model, account_id, gateway_key));
CREATE TABLE IF NOT EXISTS usage_latency (
    day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, account_id TEXT NOT NULL,
    gateway_key TEXT NOT NULL, bucket TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, provider, model, account_id, gateway_key, bucket));
CREATE TABLE IF NOT EXISTS usage_errors (
    day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, account_id TEXT NOT NULL,
    gateway_key TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, provider, model, account_id, gateway_key, kind));
CREATE TABLE IF NOT EXISTS checkpoints (
    thread_id TEXT PRIMARY KEY, owner TEXT NOT NULL, version INTEGER NOT NULL,
    data BLOB NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    response_id TEXT PRIMARY KEY, owner TEXT NOT NULL, data BLOB NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL);
"""

# One statement: start a fresh window when the old one expired, refuse past the limit.
_INCREMENT = """
INSERT INTO counters (key, n, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    n = CASE WHEN counters.expires_at <= :now THEN excluded.n
             ELSE counters.n + excluded.n END,
    expires_at = CASE WHEN counters.expires_at <= :now THEN excluded.expires_at
                      ELSE counters.expires_at END
WHERE :limit IS NULL
   OR (CASE WHEN counters.expires_at <= :now THEN 0 ELSE counters.n END) + :amount <= :limit
RETURNING n
"""

# Columns added to tables of older files (the CREATEs above hold them already): table, column,
# definition. A default fills the rows already there; nothing is ever dropped.
_ADDED_COLUMNS = (
    ("usage", "failovers", "INTEGER NOT NULL DEFAULT 0"),
    ("credentials", "quota_group", "TEXT"),
)

_PURGE_EVERY = 1000  # writes between sweeps of expired rows
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_THREAD_EVERY = 200  # pieces of work on the loop's connection between two done in a thread


def _private(path: Path) -> None:
    """Make the file readable by its owner only, whatever the folder or umask: it holds agent
    threads in plain text, usage and key hashes. SQLite gives its -wal and -shm files the mode
    of the database file; those an older version left are narrowed too."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(file.stat().st_mode) != 0o600:
                os.chmod(file, 0o600)


class Database:
    """The connection of this process to the file; tables are made on first use."""

    def __init__(self, path: Path, clock: Clock = time.time, timeout: float = 30.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _private(path)
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._fast_lock = threading.Lock()
        self._fast: sqlite3.Connection | None = None
        self._fast_calls = 0
        self._writes = 0
        self._conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        try:
            self._conn.executescript(_SCHEMA)  # each CREATE ... IF NOT EXISTS commits alone
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {type(exc).__name__}: {exc}") from None
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns a file made by an older version lacks; inside one write transaction,
        so two processes opening the same old file do not both add them."""
        with self.transaction() as conn:
            for table, column, definition in _ADDED_COLUMNS:
                have = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (no upgrade deadlock between processes)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite: {type(exc).__name__}: {exc}") from None
            self._writes += 1
            if self._writes % _PURGE_EVERY == 0:
                self._purge()

    def read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cursor = self._conn.execute(sql, params)
                rows: list[sqlite3.Row] = cursor.fetchall()
                return rows
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite: {type(exc).__name__}: {exc}") from None

    def _purge(self) -> None:
        now = self.clock()
        for table in ("counters", "expiring", "checkpoints", "responses"):
            self._conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))  # noqa: S608

    def nowait(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one write transaction of the loop's own connection, taken only if no
        writer holds the file, else ``WouldBlock`` before anything is written. Its busy
        timeout is zero and it never checkpoints (the other connection does, in threads): in
        WAL with synchronous=NORMAL a commit is then a write to the page cache, no fsync. One
        piece of work in ``_THREAD_EVERY`` is left to a thread all the same, so that the WAL
        is checkpointed (by the other connection, as it commits) even when nothing else
        writes: a WAL that only grows makes every statement slower."""
        self._fast_calls += 1
        if self._fast_calls % _THREAD_EVERY == 0 or not self._fast_lock.acquire(blocking=False):
            raise WouldBlock
        try:
            conn = self._fast or self._connect_fast()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in _BUSY:
                    raise WouldBlock from None
                raise StoreError(f"sqlite: {type(exc).__name__}: {exc}") from None
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {type(exc).__name__}: {exc}") from None
        finally:
            self._fast_lock.release()

    def _connect_fast(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._fast = conn
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        with self._fast_lock:
            if self._fast is not None:
                self._fast.close()


class SQLiteCredentials:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, record: CredentialRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO credentials (provider, account_id, sealed, enabled, "
                "created_at, last_used_at, last_error, quota_group) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.provider,
                    record.account_id,
                    record.sealed,
                    int(record.enabled),
                    record.created_at,
                    record.last_used_at,
                    record.last_error,
                    record.quota_group,
                ),
            )

    def get(self, provider: str, account_id: str) -> CredentialRecord | None:
        rows = self.db.read(
            "SELECT * FROM credentials WHERE provider = ? AND account_id = ?",
            (provider, account_id),
        )
        return _credential(rows[0]) if rows else None

    def list(self, provider: str | None = None) -> list[CredentialRecord]:
        if provider is None:
            rows = self.db.read("SELECT * FROM credentials ORDER BY provider, account_id")
        else:
            rows = self.db.read(
                "SELECT * FROM credentials WHERE provider = ? ORDER BY account_id", (provider,)
            )
        return [_credential(row) for row in rows]

    def delete(self, provider: str, account_id: str) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM credentials WHERE provider = ? AND account_id = ?",
                (provider, account_id),
            )
            return cursor.rowcount > 0

    def set_enabled(self, provider: str, account_id: str, enabled: bool) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE credentials SET enabled = ? WHERE provider = ? AND account_id = ?",
                (int(enabled), provider, account_id),
            )
            return cursor.rowcount > 0

    def set_quota_group(self, provider: str, account_id: str, group: str | None) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE credentials SET quota_group = ? WHERE provider = ? AND account_id = ?",
                (group, provider, account_id),
            )
            return cursor.rowcount > 0

    def mark_used(
        self, provider: str, account_id: str, at: float, error: str | None = None
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE credentials SET last_used_at = ?, last_error = ? "
                "WHERE provider = ? AND account_id = ?",
                (at, error, provider, account_id),
            )


def _credential(row: sqlite3.Row) -> CredentialRecord:
    return CredentialRecord(
        provider=row["provider"],
        account_id=row["account_id"],
        sealed=bytes(row["sealed"]),
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        last_error=row["last_error"],
        quota_group=row["quota_group"],
    )


class SQLiteGatewayKeys:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, record: GatewayKeyRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO gateway_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key_id,
                    record.key_hash,
                    record.name,
                    record.created_at,
                    record.expires_at,
                    record.requests_per_minute,
                    record.tokens_per_day,
                    record.prefix,
                ),
            )

    def by_hash(self, key_hash: str) -> GatewayKeyRecord | None:
        rows = self.db.read(
            "SELECT * FROM gateway_keys WHERE key_hash = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (key_hash, self.db.clock()),
        )
        return _gateway_key(rows[0]) if rows else None

    def list(self) -> list[GatewayKeyRecord]:
        rows = self.db.read("SELECT * FROM gateway_keys ORDER BY created_at, key_id")
        return [_gateway_key(row) for row in rows]

    def delete(self, key_id: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM gateway_keys WHERE key_id = ?", (key_id,)).rowcount > 0


def _gateway_key(row: sqlite3.Row) -> GatewayKeyRecord:
    return GatewayKeyRecord(
        key_id=row["key_id"],
        key_hash=row["key_hash"],
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        requests_per_minute=row["requests_per_minute"],
        tokens_per_day=row["tokens_per_day"],
        prefix=row["prefix"],
    )


def _increment(
    conn: sqlite3.Connection,
    now: float,
    key: str,
    amount: int,
    expires_at: float,
    limit: int | None,
) -> int | None:
    params = {"key": key, "amount": amount, "expires_at": expires_at, "now": now, "limit": limit}
    row = conn.execute(_INCREMENT, params).fetchone()
    return None if row is None else int(row[0])


_GET = "SELECT n FROM counters WHERE key = ? AND expires_at > ?"


class SQLiteCounters:
    def __init__(self, db: Database) -> None:
        self.db = db

    def increment(
        self, key: str, amount: int, expires_at: float, limit: int | None = None
    ) -> int | None:
        with self.db.transaction() as conn:
            return _InTransaction(conn, self.db.clock).increment(key, amount, expires_at, limit)

    def get(self, key: str) -> int:
        rows = self.db.read(_GET, (key, self.db.clock()))
        return int(rows[0][0]) if rows else 0

    def nowait(self, work: Callable[[CounterStore], T]) -> T:
        """``work`` in one write transaction on the loop, or ``WouldBlock`` (store/nowait.py)."""
        return self.db.nowait(lambda conn: work(_InTransaction(conn, self.db.clock)))


class _InTransaction:
    """The counters inside ``Database.nowait``'s transaction: each statement joins it."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock

    def increment(
        self, key: str, amount: int, expires_at: float, limit: int | None = None
    ) -> int | None:
        if limit is not None and amount > limit:
            return None
        return _increment(self.conn, self.clock(), key, amount, expires_at, limit)

    def get(self, key: str) -> int:
        row = self.conn.execute(_GET, (key, self.clock())).fetchone()
        return int(row[0]) if row else 0


class SQLiteExpiring:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, key: str, value: bytes, expires_at: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO expiring VALUES (?, ?, ?)", (key, value, expires_at)
            )

    def get(self, key: str) -> bytes | None:
        rows = self.db.read(
            "SELECT value FROM expiring WHERE key = ? AND expires_at > ?", (key, self.db.clock())
        )
        return bytes(rows[0][0]) if rows else None

    def scan(self, prefix: str) -> dict[str, bytes]:
        # substr rather than LIKE: a prefix may hold % or _.
        rows = self.db.read(
            "SELECT key, value FROM expiring "
            "WHERE substr(key, 1, length(?)) = ? AND expires_at > ? ORDER BY key",
            (prefix, prefix, self.db.clock()),
        )
        return {row["key"]: bytes(row["value"]) for row in rows}


_USAGE_KEY = "day, provider, model, account_id, gateway_key"


class SQLiteUsage:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, events: Sequence[UsageEvent]) -> None:
        # One upsert per row of the batch, not per event: a busy second is one key or two.
        totals: dict[tuple[str, ...], list[int]] = {}
        buckets: dict[tuple[str, ...], int] = {}
        kinds: dict[tuple[str, ...], int] = {}
        for e in events:
            key = (e.day, e.provider, e.model, e.account_id, e.gateway_key)
            row = totals.setdefault(key, [0, 0, 0, 0, 0])
            row[0] += 1
            row[1] += int(not e.ok)
            row[2] += e.prompt_tokens
            row[3] += e.completion_tokens
            row[4] += int(e.failed_over)
            at = (*key, histogram.bucket(e.latency_ms))
            buckets[at] = buckets.get(at, 0) + 1
            if not e.ok:
                kind = (*key, e.outcome)
                kinds[kind] = kinds.get(kind, 0) + 1
        if not totals:
            return
        with self.db.transaction() as conn:
            conn.executemany(
                f"INSERT INTO usage ({_USAGE_KEY}, requests, errors, prompt_tokens, "  # noqa: S608
                "completion_tokens, failovers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT ({_USAGE_KEY}) DO UPDATE SET "
                "requests = requests + excluded.requests, errors = errors + excluded.errors, "
                "prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
                "completion_tokens = completion_tokens + excluded.completion_tokens, "
                "failovers = failovers + excluded.failovers",
                [(*key, *row) for key, row in totals.items()],
            )
            conn.executemany(
                f"INSERT INTO usage_latency VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
                f"ON CONFLICT ({_USAGE_KEY}, bucket) DO UPDATE SET count = count + excluded.count",
                [(*at, count) for at, count in buckets.items()],
            )
            if kinds:
                conn.executemany(
                    f"INSERT INTO usage_errors VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
                    f"ON CONFLICT ({_USAGE_KEY}, kind) DO UPDATE SET "
                    "count = count + excluded.count",
                    [(*kind, count) for kind, count in kinds.items()],
                )

    def _by_key(
        self, table: str, column: str, where: str, params: tuple[str, ...]
    ) -> dict[tuple[str, ...], dict[str, int]]:
        """A per-row mapping kept in its own table (latency buckets, error kinds)."""
        out: dict[tuple[str, ...], dict[str, int]] = {}
        for row in self.db.read(f"SELECT * FROM {table} WHERE {where}", params):  # noqa: S608
            out.setdefault(_usage_key(row), {})[row[column]] = row["count"]
        return out

    def query(self, start_day: str, end_day: str, provider: str | None = None) -> list[UsageRow]:
        where = "day >= ? AND day <= ?" + (" AND provider = ?" if provider else "")
        params: tuple[str, ...] = (start_day, end_day, *((provider,) if provider else ()))
        rows = self.db.read(
            f"SELECT * FROM usage WHERE {where} ORDER BY {_USAGE_KEY}",  # noqa: S608
            params,
        )
        latency = self._by_key("usage_latency", "bucket", where, params)
        kinds = self._by_key("usage_errors", "kind", where, params)
        return [
            UsageRow(
                day=row["day"],
                provider=row["provider"],
                model=row["model"],
                account_id=row["account_id"],
                gateway_key=row["gateway_key"],
                requests=row["requests"],
                errors=row["errors"],
                prompt_tokens=row["prompt_tokens"],
                completion_tokens=row["completion_tokens"],
                latency_ms=latency.get(_usage_key(row), {}),
                errors_by_kind=kinds.get(_usage_key(row), {}),
                failovers=row["failovers"],
            )
            for row in rows
        ]


def _usage_key(row: sqlite3.Row) -> tuple[str, ...]:
    return (row["day"], row["provider"], row["model"], row["account_id"], row["gateway_key"])


class SQLiteCheckpoints:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, thread_id: str) -> Checkpoint | None:
        rows = self.db.read(
            "SELECT * FROM checkpoints WHERE thread_id = ? AND expires_at > ?",
            (thread_id, self.db.clock()),
        )
        if not rows:
            return None
        row = rows[0]
        return Checkpoint(
            row["thread_id"], row["owner"], row["version"], bytes(row["data"]), row["expires_at"]
        )

    def put(self, checkpoint: Checkpoint, expected_version: int | None) -> None:
        if len(checkpoint.data) > MAX_CHECKPOINT_BYTES:
            raise ItemTooLarge(
                f"checkpoint of {len(checkpoint.data)} bytes is over the "
                f"{MAX_CHECKPOINT_BYTES}-byte limit"
            )
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT version FROM checkpoints WHERE thread_id = ? AND expires_at > ?",
                (checkpoint.thread_id, self.db.clock()),
            ).fetchall()
            current = rows[0][0] if rows else None
            if current != expected_version:
                raise VersionConflict(
                    f"thread {checkpoint.thread_id!r} is at version {current}, "
                    f"not {expected_version}"
                )
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?)",
                (
                    checkpoint.thread_id,
                    checkpoint.owner,
                    checkpoint.version,
                    checkpoint.data,
                    checkpoint.expires_at,
                ),
            )


class SQLiteResponses:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, kept: KeptResponse) -> None:
        if len(kept.data) > MAX_RESPONSE_BYTES:
            raise ItemTooLarge(
                f"response of {len(kept.data)} bytes is over the {MAX_RESPONSE_BYTES}-byte limit"
            )
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                (kept.response_id, kept.owner, kept.data, kept.created_at, kept.expires_at),
            )

    def get(self, response_id: str) -> KeptResponse | None:
        rows = self.db.read(
            "SELECT * FROM responses WHERE response_id = ? AND expires_at > ?",
            (response_id, self.db.clock()),
        )
        if not rows:
            return None
        row = rows[0]
        return KeptResponse(
            row["response_id"], row["owner"], bytes(row["data"]), row["created_at"],
            row["expires_at"],
        )  # fmt: skip

    def delete(self, response_id: str, owner: str) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM responses WHERE response_id = ? AND owner = ? AND expires_at > ?",
                (response_id, owner, self.db.clock()),
            )
            return cursor.rowcount > 0


def sqlite_stores(path: Path, clock: Clock = time.time) -> Stores:
    db = Database(path, clock)
    return Stores(
        credentials=SQLiteCredentials(db),
        gateway_keys=SQLiteGatewayKeys(db),
        counters=SQLiteCounters(db),
        expiring=SQLiteExpiring(db),
        usage=SQLiteUsage(db),
        checkpoints=SQLiteCheckpoints(db),
        responses=SQLiteResponses(db),
        on_close=db.close,
    )
