"""What the gateway remembers of each provider's and account's health: circuits, and keys the
provider refused.

A circuit (per account, and per provider as a whole: account ``*``) opens after
``THRESHOLD`` consecutive provider-level failures, for a backoff that doubles each time it
opens again without a success in between; once that passes, one request probes it
(half-open) and a success closes it. A refused key (401/403) or an account without credits
(402) is parked until a check finds it working again; the mark names a fingerprint of the key,
so a new key for the same account is not held back by the old one's refusal.

Both live in the store's expiring values, so every worker and Lambda agrees, and are written
only when they change (a circuit opening or closing, a key refused or cleared): consecutive
failures are counted per process, which costs nothing per request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import orjson

from llm_agg.background import Background
from llm_agg.store.base import ExpiringStore

# Both under one prefix: a refresh reads them in one scan (one DynamoDB Query a second).
SHARED = "hc|"
CIRCUIT = SHARED + "circ|"
PARKED = SHARED + "dead|"
PROVIDER = "*"  # the account of a provider-wide circuit
THRESHOLD = 3  # consecutive failures that open a circuit
BASE_BACKOFF = 30.0
MAX_BACKOFF = 900.0
REMEMBER = 3600.0  # how long a circuit's history outlives its backoff (so backoff can grow)
PARK_FOR = 30 * 86400.0  # how long a refusal is believed without a check
PROBE_FOR = 120.0  # a probe not heard of after this long no longer holds others back


def fingerprint(api_key: str | None) -> str:
    return hashlib.blake2b((api_key or "").encode(), digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class Circuit:
    provider: str
    account: str  # an account id, or PROVIDER
    opened: int  # times opened without a success between: the backoff grows with it
    until: float  # open until then (0: closed)
    last_error: str | None
    at: float  # when it last changed
    errors: int  # consecutive failures

    def open_at(self, now: float) -> bool:
        return self.until > now


@dataclass(frozen=True, slots=True)
class Parked:
    """An account out of rotation until a check: its key was refused, or it has no credits."""

    provider: str
    account: str
    reason: str  # "key_refused" or "no_credits"
    message: str
    at: float
    key: str  # fingerprint of the refused key


@dataclass(slots=True)
class _Tally:
    errors: int = 0
    last_error: str | None = None
    at: float = 0.0


class Circuits:
    def __init__(
        self,
        store: ExpiringStore,
        background: Background,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.background = background
        self.clock = clock
        self.monotonic = monotonic
        self._circuits: dict[tuple[str, str], Circuit] = {}
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._probes: dict[tuple[str, str], float] = {}
        self._parked: dict[tuple[str, str], Parked] = {}
        self._cleared: dict[tuple[str, str], float] = {}  # when a check last cleared it
        self._lock = threading.Lock()  # refresh merges from a worker thread

    # --- circuits -----------------------------------------------------------------------

    def failed(self, provider: str, account: str, error: str) -> None:
        """A provider-level failure of this account: counted against it and its provider."""
        now = self.clock()
        for key in ((provider, account), (provider, PROVIDER)):
            self._probes.pop(key, None)
            tally = self._tallies.setdefault(key, _Tally())
            tally.errors += 1
            tally.last_error, tally.at = error, now
            known = self._circuits.get(key)
            if tally.errors < THRESHOLD or (known is not None and known.open_at(now)):
                continue
            opened = (known.opened if known is not None and known.until else 0) + 1
            backoff = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** (opened - 1))
            self._write(Circuit(*key, opened, now + backoff, error, now, tally.errors))

    def succeeded(self, provider: str, account: str) -> None:
        now = self.clock()
        for key in ((provider, account), (provider, PROVIDER)):
            self._probes.pop(key, None)
            self._tallies.pop(key, None)
            known = self._circuits.get(key)
            if known is not None and known.until:
                self._write(Circuit(*key, 0, 0.0, known.last_error, now, 0))

    def _write(self, circuit: Circuit) -> None:
        key = (circuit.provider, circuit.account)
        with self._lock:
            self._circuits[key] = circuit
        value = orjson.dumps(
            {
                "opened": circuit.opened,
                "until": circuit.until,
                "last_error": circuit.last_error,
                "at": circuit.at,
                "errors": circuit.errors,
            }
        )
        expires = max(circuit.until, circuit.at) + REMEMBER
        self.background.spawn(self.store.put, f"{CIRCUIT}{key[0]}|{key[1]}", value, expires)

    def blocking(self, provider: str, account: str) -> Circuit | None:
        """The open circuit that holds this account back now (its own, or its provider's), or
        a half-open one whose probe is under way; None lets the request through (and, when the
        circuit is half-open, makes it the probe: call ``probing`` as it goes out)."""
        if not self._circuits:
            return None  # no circuit was ever opened here: asked of every candidate
        now = self.clock()
        found = None
        for key in ((provider, account), (provider, PROVIDER)):
            circuit = self._circuits.get(key)
            if circuit is None or not circuit.until:
                continue
            probe = self._probes.get(key)
            probing = probe is not None and self.monotonic() - probe < PROBE_FOR
            holds = circuit.open_at(now) or probing
            if holds and (found is None or circuit.until > found.until):
                found = circuit
        return found

    def probing(self, provider: str, account: str) -> None:
        """An attempt is going out to this account: if its circuit is half-open, it is the
        probe, and other requests of this process wait for its answer."""
        if not self._circuits:
            return
        now = self.clock()
        for key in ((provider, account), (provider, PROVIDER)):
            circuit = self._circuits.get(key)
            if circuit is not None and circuit.until and not circuit.open_at(now):
                self._probes[key] = self.monotonic()

    def report(self, provider: str, account: str) -> dict[str, object]:
        """The account's circuit (or its provider's, if that one is open), with its last
        error, when, and how many failures in a row."""
        now = self.clock()
        mine = self._circuits.get((provider, account))
        whole = self._circuits.get((provider, PROVIDER))
        tally = self._tallies.get((provider, account))
        circuit = whole if whole is not None and whole.open_at(now) else mine
        state = "closed"
        if circuit is not None and circuit.until:
            state = "open" if circuit.open_at(now) else "half_open"
        last = circuit.last_error if circuit is not None else None
        at = circuit.at if circuit is not None and circuit.last_error else None
        errors = circuit.errors if circuit is not None else 0
        if tally is not None and tally.at >= (at or 0.0):
            last, at, errors = tally.last_error, tally.at, max(errors, tally.errors)
        return {
            "circuit": state,
            "open_until": circuit.until if state == "open" and circuit is not None else None,
            "last_error": last,
            "last_error_at": at,
            "consecutive_errors": errors,
        }

    # --- refused keys -------------------------------------------------------------------

    def park(
        self, provider: str, account: str, api_key: str | None, reason: str, message: str
    ) -> None:
        now = self.clock()
        parked = Parked(provider, account, reason, message, now, fingerprint(api_key))
        known = self._parked.get((provider, account))
        if known is not None and (known.key, known.reason) == (parked.key, reason):
            return
        with self._lock:
            self._parked[(provider, account)] = parked
        value = orjson.dumps(
            {"reason": reason, "message": message, "at": now, "key": parked.key, "cleared": False}
        )
        key = f"{PARKED}{provider}|{account}"
        self.background.spawn(self.store.put, key, value, now + PARK_FOR)

    def unpark(self, provider: str, account: str) -> None:
        """A check found the key working: back into rotation, in every process."""
        now = self.clock()
        with self._lock:
            self._parked.pop((provider, account), None)
            self._cleared[(provider, account)] = now
        cleared = {"reason": "", "message": "", "at": now, "key": "", "cleared": True}
        key = f"{PARKED}{provider}|{account}"
        self.background.spawn(self.store.put, key, orjson.dumps(cleared), now + PARK_FOR)

    def parked(self, provider: str, account: str, api_key: str | None) -> Parked | None:
        found = self._parked.get((provider, account))
        if found is None or found.key != fingerprint(api_key):
            return None
        return found

    def all_parked(self) -> list[Parked]:
        return list(self._parked.values())

    def any_parked(self) -> bool:
        return bool(self._parked)

    def touched(self, parked: Parked) -> None:
        """A background check could not clear it: wait a full interval before the next."""
        self._parked[(parked.provider, parked.account)] = replace(parked, at=self.clock())

    # --- sharing ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read what every process wrote (blocking: run it in a thread)."""
        shared = self.store.scan(SHARED)
        circuits = {k: v for k, v in shared.items() if k.startswith(CIRCUIT)}
        parked = {k: v for k, v in shared.items() if k.startswith(PARKED)}
        for key, value in circuits.items():
            try:
                provider, account = key[len(CIRCUIT) :].split("|", 1)
                data = orjson.loads(value)
                circuit = Circuit(
                    provider,
                    account,
                    int(data["opened"]),
                    float(data["until"]),
                    data.get("last_error"),
                    float(data["at"]),
                    int(data.get("errors", 0)),
                )
            except (ValueError, KeyError, TypeError):
                continue
            with self._lock:
                known = self._circuits.get((provider, account))
                if known is None or known.at < circuit.at:
                    self._circuits[(provider, account)] = circuit
        for key, value in parked.items():
            try:
                provider, account = key[len(PARKED) :].split("|", 1)
                data = orjson.loads(value)
                at = float(data["at"])
            except (ValueError, KeyError, TypeError):
                continue
            with self._lock:
                known_park = self._parked.get((provider, account))
                if known_park is not None and known_park.at >= at:
                    continue
                if self._cleared.get((provider, account), 0.0) >= at:
                    continue
                if data.get("cleared"):
                    self._parked.pop((provider, account), None)
                    self._cleared[(provider, account)] = at
                else:
                    self._parked[(provider, account)] = Parked(
                        provider,
                        account,
                        str(data["reason"]),
                        str(data.get("message", "")),
                        at,
                        str(data["key"]),
                    )
