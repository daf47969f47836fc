"""One contract, two backends: every test runs on SQLite and on DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llm_agg.store.base import (
    MAX_CHECKPOINT_BYTES,
    MAX_RESPONSE_BYTES,
    Checkpoint,
    CredentialRecord,
    GatewayKeyRecord,
    ItemTooLarge,
    KeptResponse,
    Stores,
    UsageEvent,
    VersionConflict,
)
from tests.functional.stores import BACKENDS, Clock, open_test_stores


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Stores]:
    with open_test_stores(request.param, tmp_path, clock) as opened:
        yield opened


def _credential(provider: str = "groq", account: str = "a1", **kw: object) -> CredentialRecord:
    return CredentialRecord(provider, account, b"\x00sealed\xff", created_at=100.0, **kw)  # type: ignore[arg-type]


# --- credentials -----------------------------------------------------------------------------


def test_credentials_round_trip_and_list_by_provider(stores: Stores) -> None:
    creds = stores.credentials
    creds.put(_credential("groq", "a1"))
    creds.put(_credential("groq", "a|2"))
    creds.put(_credential("cerebras", "main", enabled=False, last_error="HTTP 401"))

    assert creds.get("groq", "a1") == _credential("groq", "a1")
    assert creds.get("groq", "missing") is None
    assert {r.account_id for r in creds.list("groq")} == {"a1", "a|2"}
    assert [r.account_id for r in creds.list("cerebras")] == ["main"]
    assert len(creds.list()) == 3
    assert creds.get("cerebras", "main") == _credential(
        "cerebras", "main", enabled=False, last_error="HTTP 401"
    )


def test_credential_put_replaces_the_account(stores: Stores) -> None:
    stores.credentials.put(_credential())
    replacement = CredentialRecord("groq", "a1", b"new", enabled=False, created_at=5.0)
    stores.credentials.put(replacement)
    assert stores.credentials.list() == [replacement]


def test_enable_mark_and_delete_report_whether_the_account_existed(stores: Stores) -> None:
    creds = stores.credentials
    creds.put(_credential())
    assert creds.set_enabled("groq", "a1", False) is True
    assert creds.set_enabled("groq", "nope", False) is False
    creds.mark_used("groq", "a1", 200.0, "HTTP 429")
    record = creds.get("groq", "a1")
    assert record is not None
    assert (record.enabled, record.last_used_at, record.last_error) == (False, 200.0, "HTTP 429")
    creds.mark_used("groq", "a1", 300.0)
    record = creds.get("groq", "a1")
    assert record is not None and (record.last_used_at, record.last_error) == (300.0, None)
    creds.mark_used("groq", "nope", 300.0)  # a deleted account: nothing happens
    assert creds.get("groq", "nope") is None

    assert creds.delete("groq", "a1") is True
    assert creds.delete("groq", "a1") is False
    assert creds.list() == []


# --- gateway keys ----------------------------------------------------------------------------


def test_gateway_keys_are_found_by_hash_until_they_expire(stores: Stores, clock: Clock) -> None:
    keys = stores.gateway_keys
    forever = GatewayKeyRecord("k1", "h1", name="ci", created_at=1.0, prefix="sk-llmagg-ab")
    brief = GatewayKeyRecord(
        "k2", "h2", created_at=2.0, expires_at=clock.now + 60, requests_per_minute=5,
        tokens_per_day=1000,
    )  # fmt: skip
    keys.put(forever)
    keys.put(brief)

    assert keys.by_hash("h1") == forever
    assert keys.by_hash("h2") == brief
    assert keys.by_hash("nope") is None
    clock.now += 61
    assert keys.by_hash("h2") is None
    assert [k.key_id for k in keys.list()] == ["k1", "k2"]  # still listed, for the admin

    assert keys.delete("k1") is True
    assert keys.delete("k1") is False
    assert keys.by_hash("h1") is None


# --- counters --------------------------------------------------------------------------------


def test_counter_refuses_past_its_limit_and_stays_unchanged(stores: Stores, clock: Clock) -> None:
    counters = stores.counters
    until = clock.now + 60
    assert counters.increment("rpm:k1", 1, until, limit=3) == 1
    assert counters.increment("rpm:k1", 2, until, limit=3) == 3
    assert counters.increment("rpm:k1", 1, until, limit=3) is None
    assert counters.get("rpm:k1") == 3
    assert counters.increment("other", 5, until, limit=4) is None
    assert counters.get("other") == 0
    assert counters.increment("tokens", 700, until) == 700
    assert counters.increment("tokens", 700, until) == 1400


def test_a_held_amount_is_given_back_by_a_negative_increment(stores: Stores, clock: Clock) -> None:
    # A gateway key's tokens_per_day: a request holds tokens under the limit, then returns them.
    counters = stores.counters
    until = clock.now + 60
    assert counters.increment("day", 80, until, limit=100) == 80
    assert counters.increment("day", 30, until, limit=100) is None
    assert counters.increment("day", -80, until) == 0
    assert counters.increment("day", 30, until, limit=100) == 30


def test_counter_starts_a_fresh_window_after_expiry(stores: Stores, clock: Clock) -> None:
    counters = stores.counters
    assert counters.increment("w", 3, clock.now + 60, limit=3) == 3
    clock.now += 61
    assert counters.get("w") == 0
    assert counters.increment("w", 2, clock.now + 60, limit=3) == 2
    assert counters.get("w") == 2


@pytest.mark.parametrize("limit", [None, 150])
def test_concurrent_increments_are_exact(stores: Stores, clock: Clock, limit: int | None) -> None:
    def bump(_: int) -> int | None:
        return stores.counters.increment("hot", 1, clock.now + 60, limit=limit)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(bump, range(400)))

    granted = [r for r in results if r is not None]
    expected = 400 if limit is None else limit
    assert len(granted) == expected
    assert sorted(granted) == list(range(1, expected + 1))  # every value handed out once
    assert stores.counters.get("hot") == expected


# --- expiring values -------------------------------------------------------------------------


def test_expiring_values_vanish_at_their_time(stores: Stores, clock: Clock) -> None:
    expiring = stores.expiring
    expiring.put("cooldown:groq:a1", b"1", clock.now + 10)
    expiring.put("cooldown:groq:a2", b"2", clock.now + 100)
    expiring.put("cooldown%_x", b"odd", clock.now + 100)
    expiring.put("discovery:groq", b"[]", clock.now + 100)

    assert expiring.get("cooldown:groq:a1") == b"1"
    assert expiring.scan("cooldown:") == {"cooldown:groq:a1": b"1", "cooldown:groq:a2": b"2"}
    assert expiring.scan("cooldown%_") == {"cooldown%_x": b"odd"}
    clock.now += 11
    assert expiring.get("cooldown:groq:a1") is None
    assert expiring.scan("cooldown:") == {"cooldown:groq:a2": b"2"}
    expiring.put("cooldown:groq:a1", b"again", clock.now + 5)
    assert expiring.get("cooldown:groq:a1") == b"again"
    assert expiring.get("never") is None


# --- usage -----------------------------------------------------------------------------------


def _event(day: str, provider: str = "groq", ok: bool = True, latency: float = 80.0) -> UsageEvent:
    return UsageEvent(day, provider, "llama|8b", "a1", "k1", ok, 10, 5, latency)


def test_usage_adds_up_per_day_provider_model_account_and_key(stores: Stores) -> None:
    stores.usage.record(
        [
            _event("2026-01-01"),
            _event("2026-01-01", ok=False, latency=3000),
            _event("2026-01-02", provider="cerebras", latency=20),
            _event("2026-01-03"),
        ]
    )
    stores.usage.record([_event("2026-01-01", latency=90)])

    rows = stores.usage.query("2026-01-01", "2026-01-02")
    by_day = {(r.day, r.provider): r for r in rows}
    assert set(by_day) == {("2026-01-01", "groq"), ("2026-01-02", "cerebras")}
    first = by_day["2026-01-01", "groq"]
    assert (first.requests, first.errors, first.prompt_tokens, first.completion_tokens) == (
        3,
        1,
        30,
        15,
    )
    assert (first.model, first.account_id, first.gateway_key) == ("llama|8b", "a1", "k1")
    assert dict(first.latency_ms) == {"100": 2, "5000": 1}

    only_groq = stores.usage.query("2026-01-01", "2026-01-03", provider="groq")
    assert sorted(r.day for r in only_groq) == ["2026-01-01", "2026-01-03"]
    assert stores.usage.query("2025-01-01", "2025-01-31") == []


def test_usage_counts_errors_by_kind_and_requests_served_after_failover(stores: Stores) -> None:
    def event(ok: bool, failure: str | None = None, attempt: int = 1) -> UsageEvent:
        return UsageEvent("2026-01-01", "groq", "m|1", "a1", "-", ok, 1, 1, 50.0, failure, attempt)

    stores.usage.record(
        [
            event(False, "rate_limited", 1),
            event(True, attempt=2),  # served after the 429 above: a failover
            event(True),
            event(False, "timeout", 2),  # a failed later attempt is not a failover
            event(False),  # a failure recorded without its kind
        ]
    )
    stores.usage.record([event(False, "rate_limited"), event(True, attempt=3)])
    stores.usage.record([UsageEvent("2026-01-02", "groq", "m|1", "a1", "-", True)])

    first, second = stores.usage.query("2026-01-01", "2026-01-02")
    assert (first.requests, first.errors, first.failovers) == (7, 4, 2)
    assert dict(first.errors_by_kind) == {"rate_limited": 2, "timeout": 1, "unknown": 1}
    assert (second.failovers, dict(second.errors_by_kind)) == (0, {})


# --- checkpoints -----------------------------------------------------------------------------


def _checkpoint(version: int, clock: Clock, data: bytes = b"state") -> Checkpoint:
    return Checkpoint("t1", "k1", version, data, clock.now + 3600)


def test_checkpoint_writes_are_conditional_on_the_version(stores: Stores, clock: Clock) -> None:
    cps = stores.checkpoints
    cps.put(_checkpoint(1, clock), expected_version=None)
    with pytest.raises(VersionConflict):
        cps.put(_checkpoint(1, clock, b"other"), expected_version=None)
    with pytest.raises(VersionConflict):
        cps.put(_checkpoint(2, clock), expected_version=5)
    cps.put(_checkpoint(2, clock, b"next"), expected_version=1)
    assert cps.get("t1") == _checkpoint(2, clock, b"next")
    assert cps.get("nope") is None


def test_expired_checkpoint_is_absent(stores: Stores, clock: Clock) -> None:
    stores.checkpoints.put(_checkpoint(1, clock), expected_version=None)
    clock.now += 3601
    assert stores.checkpoints.get("t1") is None
    with pytest.raises(VersionConflict):
        stores.checkpoints.put(_checkpoint(2, clock), expected_version=1)
    stores.checkpoints.put(_checkpoint(1, clock, b"fresh"), expected_version=None)
    assert stores.checkpoints.get("t1") == _checkpoint(1, clock, b"fresh")


def test_checkpoint_over_the_item_limit_is_refused(stores: Stores, clock: Clock) -> None:
    largest = _checkpoint(1, clock, b"x" * MAX_CHECKPOINT_BYTES)
    stores.checkpoints.put(largest, expected_version=None)  # fits DynamoDB's 400 KB item
    with pytest.raises(ItemTooLarge):
        stores.checkpoints.put(
            _checkpoint(2, clock, b"x" * (MAX_CHECKPOINT_BYTES + 1)), expected_version=1
        )
    assert stores.checkpoints.get("t1") == largest


# --- kept responses --------------------------------------------------------------------------


def _kept(
    clock: Clock, response_id: str = "resp_1", owner: str = "k1", data: bytes = b"z"
) -> KeptResponse:
    return KeptResponse(response_id, owner, data, clock.now, clock.now + 3600)


def test_kept_response_round_trips_and_is_replaced_by_id(stores: Stores, clock: Clock) -> None:
    responses = stores.responses
    responses.put(_kept(clock))
    responses.put(_kept(clock, "resp_2", "k2", b"\x00other\xff"))
    assert responses.get("resp_1") == _kept(clock)
    assert responses.get("resp_2") == _kept(clock, "resp_2", "k2", b"\x00other\xff")
    assert responses.get("resp_none") is None
    responses.put(_kept(clock, data=b"again"))
    assert responses.get("resp_1") == _kept(clock, data=b"again")


def test_kept_response_is_deleted_only_by_its_owner(stores: Stores, clock: Clock) -> None:
    responses = stores.responses
    responses.put(_kept(clock))
    assert responses.delete("resp_1", "k2") is False
    assert responses.get("resp_1") == _kept(clock)
    assert responses.delete("resp_1", "k1") is True
    assert responses.get("resp_1") is None
    assert responses.delete("resp_1", "k1") is False


def test_expired_kept_response_is_absent(stores: Stores, clock: Clock) -> None:
    stores.responses.put(_kept(clock))
    clock.now += 3601
    assert stores.responses.get("resp_1") is None
    assert stores.responses.delete("resp_1", "k1") is False


def test_kept_response_over_the_item_limit_is_refused(stores: Stores, clock: Clock) -> None:
    largest = _kept(clock, data=b"x" * MAX_RESPONSE_BYTES)
    stores.responses.put(largest)  # fits DynamoDB's 400 KB item
    with pytest.raises(ItemTooLarge):
        stores.responses.put(_kept(clock, "resp_2", data=b"x" * (MAX_RESPONSE_BYTES + 1)))
    assert stores.responses.get("resp_1") == largest
    assert stores.responses.get("resp_2") is None
