"""The store interfaces. Backends: ``sqlite.py`` (local, embedded) and ``dynamodb.py`` (AWS,
moto in tests). One contract suite (tests/functional/test_store_contract.py) runs over both.

Calls are synchronous (boto3 and sqlite3 are); async code calls them through
``asyncio.to_thread`` so the event loop never blocks, except the hot path's counter work on the
SQLite file, done on the loop only when it cannot wait (``store/nowait.py``). Times are epoch
seconds. Anything with ``expires_at`` is treated as absent once that time has passed, whether
or not the backend has deleted it yet (DynamoDB's TTL deletes days late; moto never does). A
gateway key past its ``expires_at`` is not found by ``by_hash`` but still listed, so an admin
sees it expired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class StoreError(Exception):
    """The backend failed; the message never holds secrets."""


class VersionConflict(StoreError):
    """A conditional write lost: someone else changed the item first."""


class ItemTooLarge(StoreError):
    """The item is larger than the backend can hold in one record."""


# DynamoDB items hold at most 400 KB with their attribute names; both backends refuse more
# than this much checkpoint data, so an agent behaves the same locally and on AWS.
MAX_CHECKPOINT_BYTES = 350 * 1024


# --- credentials -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """One provider account. ``sealed`` is the envelope-encrypted secret (key and headers);
    nothing else here is secret."""

    provider: str
    account_id: str
    sealed: bytes = field(repr=False)
    enabled: bool = True
    created_at: float = 0.0
    last_used_at: float | None = None
    last_error: str | None = None
    # The project or organisation whose quota its key spends (ProviderSpec.quota_holder).
    quota_group: str | None = None


class CredentialStore(Protocol):
    def put(self, record: CredentialRecord) -> None: ...
    def get(self, provider: str, account_id: str) -> CredentialRecord | None: ...
    def list(self, provider: str | None = None) -> list[CredentialRecord]: ...
    def delete(self, provider: str, account_id: str) -> bool: ...
    def set_enabled(self, provider: str, account_id: str, enabled: bool) -> bool: ...
    def set_quota_group(self, provider: str, account_id: str, group: str | None) -> bool:
        """Name (or, with None, forget) the account's project or organisation; False when
        there is no such account."""
        ...

    def mark_used(
        self, provider: str, account_id: str, at: float, error: str | None = None
    ) -> None: ...


# --- gateway keys ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatewayKeyRecord:
    """A client key of the gateway, stored only as its hash."""

    key_id: str
    key_hash: str = field(repr=False)
    name: str | None = None
    created_at: float = 0.0
    expires_at: float | None = None
    requests_per_minute: int | None = None
    tokens_per_day: int | None = None
    prefix: str = ""  # the first characters, to recognise it in a list


class GatewayKeyStore(Protocol):
    def put(self, record: GatewayKeyRecord) -> None: ...
    def by_hash(self, key_hash: str) -> GatewayKeyRecord | None: ...
    def list(self) -> list[GatewayKeyRecord]: ...
    def delete(self, key_id: str) -> bool: ...


# --- rate windows, cooldowns and other expiring runtime state --------------------------------


class CounterStore(Protocol):
    def increment(
        self, key: str, amount: int, expires_at: float, limit: int | None = None
    ) -> int | None:
        """Atomically add ``amount`` to counter ``key`` (created at 0, expiring at
        ``expires_at``) unless the result would exceed ``limit``. Returns the new value, or
        None when the limit refused it (the counter is then unchanged)."""
        ...

    def get(self, key: str) -> int: ...


class ExpiringStore(Protocol):
    """Small values that vanish at ``expires_at``: cooldowns, learned limits, discovery."""

    def put(self, key: str, value: bytes, expires_at: float) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def scan(self, prefix: str) -> dict[str, bytes]: ...


# --- usage -----------------------------------------------------------------------------------


UNKNOWN_FAILURE = "unknown"  # the kind of a failed event recorded without one


@dataclass(frozen=True, slots=True)
class UsageEvent:
    day: str  # YYYY-MM-DD, UTC
    provider: str
    model: str
    account_id: str
    gateway_key: str  # key_id, or "-" for none
    ok: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    failure: str | None = None  # a failed attempt's FailureKind value ("rate_limited", ...)
    attempt: int = 1  # which attempt of its request this was: served at 2+ means failed over

    @property
    def outcome(self) -> str:
        """ "ok", or the kind of failure ("unknown" when a writer did not say)."""
        return "ok" if self.ok else self.failure or UNKNOWN_FAILURE

    @property
    def failed_over(self) -> bool:
        """Served, but not by the first attempt of its request."""
        return self.ok and self.attempt > 1


@dataclass(frozen=True, slots=True)
class UsageRow:
    day: str
    provider: str
    model: str
    account_id: str
    gateway_key: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: Mapping[str, int]  # histogram: bucket upper bound (ms, as text) → count
    errors_by_kind: Mapping[str, int] = field(default_factory=dict)  # failure kind → count
    failovers: int = 0  # requests served on a later attempt than their first


class UsageStore(Protocol):
    def record(self, events: Sequence[UsageEvent]) -> None: ...
    def query(
        self, start_day: str, end_day: str, provider: str | None = None
    ) -> list[UsageRow]: ...


# --- agent checkpoints -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    thread_id: str
    owner: str  # the gateway key id the thread belongs to ("-" on an open local server)
    version: int
    data: bytes  # compressed by the caller
    expires_at: float


class CheckpointStore(Protocol):
    def get(self, thread_id: str) -> Checkpoint | None: ...

    def put(self, checkpoint: Checkpoint, expected_version: int | None) -> None:
        """Write ``checkpoint`` if the stored version is ``expected_version`` (None: no item
        yet); raise ``VersionConflict`` otherwise and ``ItemTooLarge`` past the size limit."""
        ...


# --- kept responses (``/v1/responses`` with ``store: true``) ---------------------------------


# The same bound as checkpoints: one DynamoDB item, with room for its attribute names.
MAX_RESPONSE_BYTES = MAX_CHECKPOINT_BYTES


@dataclass(frozen=True, slots=True)
class KeptResponse:
    response_id: str
    owner: str  # the gateway key id that made it ("-" on an open local server)
    data: bytes  # compressed by the caller: the response and the items that led to it
    created_at: float
    expires_at: float


class ResponseStore(Protocol):
    def put(self, kept: KeptResponse) -> None:
        """Keep ``kept`` (replacing one of the same id); ``ItemTooLarge`` past
        ``MAX_RESPONSE_BYTES``."""
        ...

    def get(self, response_id: str) -> KeptResponse | None: ...

    def delete(self, response_id: str, owner: str) -> bool:
        """Forget the response if ``owner`` made it; whether there was one to forget."""
        ...


@dataclass(frozen=True, slots=True)
class Stores:
    """Everything a gateway process persists, from one backend."""

    credentials: CredentialStore
    gateway_keys: GatewayKeyStore
    counters: CounterStore
    expiring: ExpiringStore
    usage: UsageStore
    checkpoints: CheckpointStore
    responses: ResponseStore
    on_close: Callable[[], None] = field(default=lambda: None, repr=False)

    def close(self) -> None:
        """Release the backend's connections (the SQLite file handle; boto3 needs nothing)."""
        self.on_close()
