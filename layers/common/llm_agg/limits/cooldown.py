"""Accounts, or one model of an account, not to be used until a given time: a provider's 429
cools them until the reset it announced, and a quota at zero blocks them until it refills.

Kept in the store's expiring values so every worker and Lambda sees them, and read from a
local copy: ``add`` updates it at once and writes through in the background, ``refresh`` picks
up what other processes wrote (``Quota.maybe_refresh`` runs it at most once a second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from llm_agg.background import Background
from llm_agg.limits.windows import ACCOUNT
from llm_agg.store.base import ExpiringStore

PREFIX = "cool|"


@dataclass(frozen=True, slots=True)
class Cooldown:
    provider: str
    account: str
    scope: str  # a model id, or ACCOUNT for every model of the account
    until: float
    reason: str

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.provider}|{self.account}|{self.scope}"


def _decode(key: str, value: bytes) -> Cooldown | None:
    try:
        provider, account, scope = key[len(PREFIX) :].split("|", 2)
        data = orjson.loads(value)
        return Cooldown(provider, account, scope, float(data["until"]), str(data["reason"]))
    except (ValueError, KeyError, TypeError):
        return None


class Cooldowns:
    def __init__(
        self,
        store: ExpiringStore,
        background: Background,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.background = background
        self.clock = clock
        self._local: dict[tuple[str, str, str], Cooldown] = {}
        self._lock = threading.Lock()  # refresh merges from a worker thread

    def get(self, provider: str, account: str, model: str) -> Cooldown | None:
        """The cooldown that keeps this model of this account unused now, if any."""
        if not self._local:
            return None  # nothing cooling: asked of every candidate, and again at admission
        now = self.clock()
        found = None
        for scope in (model, ACCOUNT):
            cool = self._local.get((provider, account, scope))
            if (
                cool is not None
                and cool.until > now
                and (found is None or cool.until > found.until)
            ):
                found = cool
        return found

    def any(self) -> bool:
        """Whether any cooldown is known here (past ones included, until refresh drops them)."""
        return bool(self._local)

    def add(self, cooldown: Cooldown) -> None:
        if not self._merge(cooldown):
            return
        value = orjson.dumps({"until": cooldown.until, "reason": cooldown.reason})
        self.background.spawn(self.store.put, cooldown.key, value, cooldown.until)

    def _merge(self, cooldown: Cooldown) -> bool:
        key = (cooldown.provider, cooldown.account, cooldown.scope)
        with self._lock:
            known = self._local.get(key)
            if known is not None and known.until >= cooldown.until:
                return False
            self._local[key] = cooldown
            return True

    def active(self) -> list[Cooldown]:
        now = self.clock()
        return sorted((c for c in self._local.values() if c.until > now), key=lambda c: c.until)

    def refresh(self) -> None:
        """Read every process's cooldowns from the store (blocking: run it in a thread)."""
        now = self.clock()
        for key, value in self.store.scan(PREFIX).items():
            cooldown = _decode(key, value)
            if cooldown is not None and cooldown.until > now:
                self._merge(cooldown)
        with self._lock:
            self._local = {k: c for k, c in self._local.items() if c.until > now}
