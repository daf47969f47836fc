"""Client keys of the gateway (``sk-llmagg-…``): made here, shown once, stored as a hash.

The keys are 256 random bits, so a plain SHA-256 is the right hash (nothing to brute-force,
and one hash per request is cheap). Lookups are cached for a few seconds: a warm request makes
no store call, and a key revoked elsewhere stops working within ``REVOCATION_SECONDS``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llm_agg.store.base import GatewayKeyRecord, GatewayKeyStore

PREFIX = "sk-llmagg-"
SHOWN_PREFIX = len(PREFIX) + 4  # "sk-llmagg-AbCd": enough to tell keys apart in a list
REVOCATION_SECONDS = 3.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str = field(repr=False)
    record: GatewayKeyRecord


class _Miss:
    """Not in the cache (as opposed to cached as unknown, which is None)."""


MISS = _Miss()


class GatewayKeys:
    def __init__(
        self,
        store: GatewayKeyStore,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        # A key revoked through another worker (or Lambda) stops working within ``ttl``; one
        # store read per key and process every few seconds is what that costs.
        ttl: float = REVOCATION_SECONDS,
        miss_ttl: float = REVOCATION_SECONDS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.monotonic = monotonic
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self._cache: dict[str, tuple[GatewayKeyRecord | None, float]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        name: str | None = None,
        expires_at: float | None = None,
        requests_per_minute: int | None = None,
        tokens_per_day: int | None = None,
    ) -> NewKey:
        key = PREFIX + secrets.token_urlsafe(32)
        record = GatewayKeyRecord(
            key_id="key_" + secrets.token_hex(8),
            key_hash=hash_key(key),
            name=name,
            created_at=self.clock(),
            expires_at=expires_at,
            requests_per_minute=requests_per_minute,
            tokens_per_day=tokens_per_day,
            prefix=key[:SHOWN_PREFIX],
        )
        self.store.put(record)
        with self._lock:
            self._cache.pop(record.key_hash, None)
        return NewKey(key, record)

    def list(self) -> list[GatewayKeyRecord]:
        return self.store.list()

    def delete(self, key_id: str) -> bool:
        found = self.store.delete(key_id)
        with self._lock:
            # The cache is by hash and the id's hash is unknown here: forget all of it.
            self._cache.clear()
        return found

    def peek(self, key_hash: str) -> GatewayKeyRecord | _Miss | None:
        """The cached answer for ``key_hash``, or ``MISS`` when the store must be asked."""
        entry = self._cache.get(key_hash)
        if entry is None or entry[1] <= self.monotonic():
            return MISS
        record = entry[0]
        if (
            record is not None
            and record.expires_at is not None
            and record.expires_at <= self.clock()
        ):
            return None
        return record

    def lookup(self, key_hash: str) -> GatewayKeyRecord | None:
        """Ask the store (blocking) and cache the answer, found or not."""
        record = self.store.by_hash(key_hash)
        ttl = self.ttl if record is not None else self.miss_ttl
        with self._lock:
            if len(self._cache) > 10_000:  # unknown keys sprayed at us must not grow it forever
                self._cache.clear()
            self._cache[key_hash] = (record, self.monotonic() + ttl)
        return record
