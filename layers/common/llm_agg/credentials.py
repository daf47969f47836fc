"""Provider accounts kept in the store, sealed with envelope encryption.

The router reads them through ``Vault.accounts()``: the list of records is re-read at most every
``list_ttl`` seconds and a decrypted secret is kept ``secret_ttl`` seconds, so a warm request
makes no store or KMS call. Writes through this vault take effect in this process at once
(a deleted or disabled account is dropped from the snapshot before the write returns); other
processes see them within ``list_ttl``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from llm_agg.crypto.envelope import Keyring, KeyringError, open_sealed, seal
from llm_agg.providers.accounts import Account
from llm_agg.store.base import CredentialRecord, CredentialStore

log = logging.getLogger("llm_agg.credentials")

STORED = "store"
UNREADABLE = "the stored key cannot be decrypted"


@dataclass(frozen=True, slots=True)
class Secret:
    api_key: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


def context(provider: str, account_id: str) -> dict[str, str]:
    """The encryption context: KMS context and AES associated data alike."""
    return {"provider": provider, "account_id": account_id}


def mask(api_key: str) -> str:
    """``gsk_…9f2a``: enough to recognise a key, never enough to use it."""
    show = min(4, len(api_key) // 4)
    return f"{api_key[:show]}…{api_key[-show:]}" if show else "…"


@dataclass
class _Opened:
    digest: bytes
    secret: Secret
    until: float


class Vault:
    def __init__(
        self,
        store: CredentialStore,
        keyring: Keyring,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        list_ttl: float = 15.0,
        secret_ttl: float = 300.0,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.clock = clock
        self.monotonic = monotonic
        self.list_ttl = list_ttl
        self.secret_ttl = secret_ttl
        self.problems: dict[tuple[str, str], str] = {}  # accounts that did not open, and why
        self._opened: dict[tuple[str, str], _Opened] = {}
        self._snapshot: list[Account] | None = None
        self._loaded_at = float("-inf")
        self._generation = 0  # bumped by every write: a load that overlapped one is discarded
        self._load_lock = threading.Lock()

    # --- writes (admin) ----------------------------------------------------------------------

    def put(
        self,
        provider: str,
        account_id: str,
        api_key: str,
        headers: Mapping[str, str] | None = None,
        enabled: bool = True,
        quota_group: str | None = None,
    ) -> CredentialRecord:
        secret = orjson.dumps({"api_key": api_key, "headers": dict(headers or {})})
        record = CredentialRecord(
            provider=provider,
            account_id=account_id,
            sealed=seal(self.keyring, context(provider, account_id), secret),
            enabled=enabled,
            created_at=self.clock(),
            quota_group=quota_group,
        )
        self.store.put(record)
        self._forget(provider, account_id)
        return record

    def delete(self, provider: str, account_id: str) -> bool:
        found = self.store.delete(provider, account_id)
        self._forget(provider, account_id)
        return found

    def set_enabled(self, provider: str, account_id: str, enabled: bool) -> bool:
        found = self.store.set_enabled(provider, account_id, enabled)
        self._forget(provider, account_id)
        return found

    def set_quota_group(self, provider: str, account_id: str, group: str | None) -> bool:
        found = self.store.set_quota_group(provider, account_id, group)
        self._forget(provider, account_id)
        return found

    def _forget(self, provider: str, account_id: str) -> None:
        """Stop using the account in this process now; re-read the store on the next request."""
        self._opened.pop((provider, account_id), None)
        self.problems.pop((provider, account_id), None)
        if self._snapshot is not None:
            self._snapshot = [
                a for a in self._snapshot if (a.provider, a.account_id) != (provider, account_id)
            ]
        self._generation += 1
        self._loaded_at = float("-inf")

    # --- reads -------------------------------------------------------------------------------

    def secret(self, record: CredentialRecord) -> Secret:
        """The decrypted secret of ``record``, from the cache while it is fresh and unchanged.
        Raises ``KeyringError`` if it does not open."""
        key = (record.provider, record.account_id)
        digest = hashlib.sha256(record.sealed).digest()
        now = self.monotonic()
        opened = self._opened.get(key)
        if opened is not None and opened.digest == digest and opened.until > now:
            return opened.secret
        plain = open_sealed(
            self.keyring, context(record.provider, record.account_id), record.sealed
        )
        data = orjson.loads(plain)
        secret = Secret(str(data["api_key"]), dict(data.get("headers") or {}))
        self._opened[key] = _Opened(digest, secret, now + self.secret_ttl)
        return secret

    def fresh(self) -> list[Account] | None:
        """The snapshot while it is fresh (not ``stale``): what ``accounts`` gives without a
        load; None when a load is due."""
        snapshot = self._snapshot
        if snapshot is None or self.monotonic() - self._loaded_at >= self.list_ttl:
            return None
        return snapshot

    @property
    def stale(self) -> bool:
        return self.fresh() is None

    def load(self) -> list[Account]:
        """Re-read the records and open the enabled ones (blocking: call it in a thread)."""
        with self._load_lock:
            if not self.stale and self._snapshot is not None:
                return self._snapshot  # another thread loaded while this one waited
            while True:
                started, generation = self.monotonic(), self._generation
                accounts = [a for r in self.store.list() if (a := self._open(r)) is not None]
                if generation == self._generation:  # else a write overlapped: read again
                    self._snapshot = accounts
                    self._loaded_at = started
                    return accounts

    def _open(self, record: CredentialRecord) -> Account | None:
        key = (record.provider, record.account_id)
        if not record.enabled:
            return None
        try:
            secret = self.secret(record)
        except (KeyringError, ValueError, KeyError) as exc:
            self.problems[key] = UNREADABLE
            log.warning(
                "credential %s/%s cannot be opened, skipped: %s",
                record.provider,
                record.account_id,
                type(exc).__name__,
            )
            return None
        self.problems.pop(key, None)
        return Account(
            record.provider,
            record.account_id,
            secret.api_key,
            secret.headers,
            source=STORED,
            quota_group=record.quota_group,
        )

    def accounts(self) -> list[Account]:
        """The enabled stored accounts, decrypted: the snapshot, loaded first if there is none."""
        snapshot = self._snapshot
        return snapshot if snapshot is not None else self.load()
