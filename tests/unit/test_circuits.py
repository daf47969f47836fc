"""Circuits and parked keys: opening, growing backoff, one probe, sharing through the store,
and a write only when something changes."""

from __future__ import annotations

from llm_agg.background import Background
from llm_agg.limits.circuits import BASE_BACKOFF, THRESHOLD, Circuits
from tests.fakes.memory_stores import MemoryExpiring


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryExpiring):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.writes = 0

    def put(self, key: str, value: bytes, expires_at: float) -> None:
        self.writes += 1
        super().put(key, value, expires_at)


def make(store: CountingStore, clock: Clock) -> Circuits:
    return Circuits(store, Background(), clock, monotonic=clock)


def test_consecutive_failures_open_the_circuit_with_one_write() -> None:
    clock = Clock()
    store = CountingStore(clock)
    circuits = make(store, clock)
    for _ in range(THRESHOLD - 1):
        circuits.failed("groq", "env", "HTTP 503 (server)")
    assert circuits.blocking("groq", "env") is None
    assert store.writes == 0  # counting costs nothing
    circuits.failed("groq", "env", "HTTP 503 (server)")
    held = circuits.blocking("groq", "env")
    assert held is not None and held.until == clock.now + BASE_BACKOFF
    assert store.writes == 2  # the account's circuit and the provider's: each opened once
    circuits.failed("groq", "env", "HTTP 503 (server)")  # still open: nothing to write
    assert store.writes == 2
    report = circuits.report("groq", "env")
    assert report["circuit"] == "open" and report["consecutive_errors"] == THRESHOLD + 1


def test_after_the_backoff_one_request_probes_and_a_failure_doubles_the_backoff() -> None:
    clock = Clock()
    circuits = make(CountingStore(clock), clock)
    for _ in range(THRESHOLD):
        circuits.failed("groq", "env", "timeout")
    clock.now += BASE_BACKOFF + 1
    assert circuits.blocking("groq", "env") is None  # half-open: this one may go
    circuits.probing("groq", "env")
    assert circuits.blocking("groq", "env") is not None  # the others wait for the probe
    circuits.failed("groq", "env", "timeout")
    held = circuits.blocking("groq", "env")
    assert held is not None and held.until == clock.now + 2 * BASE_BACKOFF


def test_a_success_closes_it_and_every_process_learns_it_through_the_store() -> None:
    clock = Clock()
    store = CountingStore(clock)
    here, there = make(store, clock), make(store, clock)
    for _ in range(THRESHOLD):
        here.failed("groq", "env", "HTTP 502 (server)")
    there.refresh()
    assert there.blocking("groq", "other-account") is not None  # the provider's circuit
    clock.now += BASE_BACKOFF + 1
    here.succeeded("groq", "env")
    clock.now += 1
    for _ in range(THRESHOLD - 1):
        there.failed("groq", "env", "HTTP 502 (server)")
    there.refresh()
    assert there.report("groq", "env")["circuit"] == "closed"


def test_a_parked_key_holds_only_that_key_and_a_check_clears_it_everywhere() -> None:
    clock = Clock()
    store = CountingStore(clock)
    here, there = make(store, clock), make(store, clock)
    here.park("groq", "env", "gsk_old", "key_refused", "HTTP 401: Invalid API Key")
    here.park("groq", "env", "gsk_old", "key_refused", "HTTP 401: Invalid API Key")
    assert store.writes == 1
    there.refresh()
    assert there.parked("groq", "env", "gsk_old") is not None
    assert there.parked("groq", "env", "gsk_new") is None  # a new key is not held back
    clock.now += 1
    here.unpark("groq", "env")
    there.refresh()
    assert there.parked("groq", "env", "gsk_old") is None
