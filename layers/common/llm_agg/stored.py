"""What a gateway process keeps in its store, and the caches in front of it: the backend
(opened on first use, in a thread), the credential vault and the gateway keys."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from llm_agg.credentials import Vault
from llm_agg.crypto.envelope import KeyringError
from llm_agg.gateway_keys import GatewayKeys
from llm_agg.providers.accounts import Account
from llm_agg.settings import Settings
from llm_agg.store.base import StoreError, Stores
from llm_agg.store.factory import Backend, open_backend

log = logging.getLogger("llm_agg.stored")

RETRY_AFTER_FAILURE = 30.0  # seconds before a failed store is tried again by the hot path
USE_NOTED_EVERY = 60.0  # seconds between two last_used_at writes of one account


class Stored:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        self._backend: Backend | None = None
        self._vault: Vault | None = None
        self._keys: GatewayKeys | None = None
        self._lock = threading.Lock()
        self._down_until = float("-inf")
        self._noted: dict[tuple[str, str], tuple[float, str | None]] = {}

    @property
    def backend(self) -> Backend:
        """The store and keyring, opened on first use (blocking: the first call may make the
        SQLite file or the boto3 clients)."""
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = open_backend(self.settings)
        return self._backend

    @property
    def opened(self) -> bool:
        return self._backend is not None

    async def open(self) -> Backend:
        """The backend, opened in a thread if this is its first use."""
        if self._backend is not None:
            return self._backend
        return await asyncio.to_thread(lambda: self.backend)

    @property
    def stores(self) -> Stores:
        return self.backend.stores

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            backend = self.backend
            self._vault = Vault(
                backend.stores.credentials,
                backend.keyring,
                clock=self.clock,
                monotonic=self.monotonic,
            )
        return self._vault

    @property
    def keys(self) -> GatewayKeys:
        if self._keys is None:
            self._keys = GatewayKeys(
                self.stores.gateway_keys, clock=self.clock, monotonic=self.monotonic
            )
        return self._keys

    def accounts(self) -> list[Account]:
        """The enabled stored accounts (none while the store is failing: env keys still serve)."""
        if self.monotonic() < self._down_until:
            return []
        vault = self._vault  # made once: past that, a property's call less each request
        try:
            return (vault if vault is not None else self.vault).accounts()
        except (StoreError, KeyringError, OSError) as exc:
            self._down_until = self.monotonic() + RETRY_AFTER_FAILURE
            log.error("stored accounts unavailable: %s", exc)
            return []

    def fresh(self) -> list[Account] | None:
        """The stored accounts when nothing is to be done before reading them: the vault's
        snapshot is fresh and the store is not known down, so ``refreshing`` has no work and
        ``accounts`` gives this snapshot. None otherwise (ask those two)."""
        vault = self._vault
        if vault is None or self.monotonic() < self._down_until:
            return None
        return vault.fresh()

    async def refresh(self) -> None:
        """Re-read the stored accounts in a thread when the snapshot is stale, so the hot path
        never blocks the event loop on the store; a no-op on a warm request."""
        pending = self.refreshing()
        if pending is not None:
            await pending

    def refreshing(self) -> Awaitable[None] | None:
        """``refresh``'s work to await, or None when there is none (the snapshot is fresh, or
        the store is known down): the router asks on every request, and a fresh snapshot then
        costs no coroutine made and awaited (issue 17: each is paid cold after a stream)."""
        vault = self._vault
        if vault is not None and not vault.stale:
            return None
        if self.monotonic() < self._down_until:
            return None
        return asyncio.to_thread(self._load)

    def _load(self) -> None:
        try:
            self.vault.load()
        except (StoreError, KeyringError, OSError) as exc:
            self._down_until = self.monotonic() + RETRY_AFTER_FAILURE
            log.error("stored accounts unavailable: %s", exc)

    def use_to_note(self, account: Account, error: str | None) -> bool:
        """Whether this use of ``account`` should be written (``note_use``): a stored account,
        and a new error or a minute since the last write, so traffic costs no write a request."""
        if account.source == "env":
            return False
        key = (account.provider, account.account_id)
        now = self.clock()
        last = self._noted.get(key)
        if last is not None and last[1] == error and now - last[0] < USE_NOTED_EVERY:
            return False
        self._noted[key] = (now, error)
        return True

    def note_use(self, account: Account, at: float, error: str | None) -> None:
        """Write ``last_used_at`` and ``last_error`` of a stored account (blocking)."""
        try:
            self.stores.credentials.mark_used(account.provider, account.account_id, at, error)
        except StoreError as exc:
            log.error("could not note the use of an account: %s", type(exc).__name__)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.stores.close()
            self._backend = None
            self._vault = None
            self._keys = None
