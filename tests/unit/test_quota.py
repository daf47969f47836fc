"""Quota windows, learned limits and cooldowns, on an injected clock and in-memory stores."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from llm_agg.background import Background
from llm_agg.limits.quota import Quota
from llm_agg.providers.registry import BUILTIN
from tests.fakes.memory_stores import MemoryCounters, MemoryExpiring
from tests.support.fixtures import headers
from tests.support.routing import catalog

START = 1_800_000_000.0  # a whole minute, hour and day on the epoch


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


CATALOG = catalog(
    """
providers:
  groq:
    models:
      - {id: fast, limits: {rpm: 30, rpd: 1000, tpm: 600}}
      - {id: daily, limits: {rpm: 100, rpd: 40}}
  openrouter:
    limits: {rpm: 20, rpd: 50}
    models:
      - {id: "a:free"}
      - {id: "b:free"}
  cerebras:
    models:
      - {id: open}
"""
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def counters(clock: Clock) -> MemoryCounters:
    return MemoryCounters(clock)


@pytest.fixture
def expiring(clock: Clock) -> MemoryExpiring:
    return MemoryExpiring(clock)


def make_quota(clock: Clock, counters: MemoryCounters, expiring: MemoryExpiring) -> Quota:
    return Quota(CATALOG, BUILTIN, counters, expiring, Background(), clock)


@pytest.fixture
def quota(clock: Clock, counters: MemoryCounters, expiring: MemoryExpiring) -> Quota:
    return make_quota(clock, counters, expiring)


def admit(quota: Quota, model: str = "fast", provider: str = "groq", tokens: int = 10) -> bool:
    ok = quota.precheck(provider, "a1", model, tokens).ok and quota.charge(provider, "a1", model).ok
    if ok:
        quota.started(provider, "a1", model)
    return ok


def test_requests_per_minute_let_exactly_the_limit_through(quota: Quota, clock: Clock) -> None:
    assert sum(admit(quota) for _ in range(40)) == 30
    refused = quota.charge("groq", "a1", "fast")
    assert not refused.ok
    assert refused.until == START + 60
    assert refused.reason == "30 requests per minute used up"


def test_a_spent_window_blocks_the_account_until_it_ends_then_recovers(
    quota: Quota, clock: Clock
) -> None:
    for _ in range(31):
        admit(quota)
    blocked = quota.precheck("groq", "a1", "fast", 10)
    assert not blocked.ok and blocked.until == START + 60
    clock.now = START + 59.9
    assert not admit(quota)
    clock.now = START + 60
    assert admit(quota)


def test_concurrent_admissions_never_pass_the_limit(quota: Quota) -> None:
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: quota.charge("groq", "a1", "fast").ok, range(200)))
    assert sum(results) == 30


def test_admission_is_one_conditional_write_once_the_day_is_known(
    quota: Quota, counters: MemoryCounters
) -> None:
    assert admit(quota)  # the first one also reads the day's count: two writes
    quota.count("groq", "a1", "fast", (), 0)
    before = counters.writes
    for _ in range(10):
        assert admit(quota)
    assert counters.writes - before == 10


def test_a_nearly_spent_day_is_charged_before_the_call_and_holds_exactly(
    quota: Quota, clock: Clock
) -> None:
    served = 0
    for minute in range(5):
        clock.now = START + 60 * minute
        for _ in range(30):
            admission = quota.charge("groq", "a1", "daily")
            if admission.ok:
                served += 1
                charged = tuple(key for key, _ in admission.charged)
                quota.count("groq", "a1", "daily", charged, 0)
    assert served == 40


def test_tokens_are_counted_after_the_call_and_refuse_what_cannot_fit(
    quota: Quota, clock: Clock
) -> None:
    assert admit(quota, tokens=100)
    quota.count("groq", "a1", "fast", (), 550)
    assert not quota.precheck("groq", "a1", "fast", 100).ok  # 550 + 100 > 600 per minute
    assert quota.precheck("groq", "a1", "fast", 40).ok
    quota.count("groq", "a1", "fast", (), 60)  # 610: spent, blocked until the minute ends
    assert quota.precheck("groq", "a1", "fast", 1).until == START + 60
    clock.now = START + 60
    assert quota.precheck("groq", "a1", "fast", 100).ok


def test_zero_remaining_in_headers_cools_until_their_reset_then_recovers(
    quota: Quota, clock: Clock
) -> None:
    spent = headers("groq/response_headers_ratelimit.txt") | {"x-ratelimit-remaining-tokens": "0"}
    quota.heard("groq", "a1", "fast", spent)
    refused = quota.precheck("groq", "a1", "fast", 10)
    assert not refused.ok
    assert refused.until == pytest.approx(START + 7.66)
    assert "no tokens left" in refused.reason
    assert quota.precheck("groq", "a1", "daily", 10).ok  # Groq counts per model
    clock.now = START + 7.7
    assert quota.precheck("groq", "a1", "fast", 10).ok


def test_announced_limits_replace_the_catalog(quota: Quota) -> None:
    quota.heard("groq", "a1", "fast", headers("groq/response_headers_ratelimit.txt"))
    limits = {lim.name: lim.value for lim in quota.limits("groq", "a1", "fast")}
    assert limits["rpd"] == 14400  # announced, where the catalog said 1000
    assert limits["tpm"] == 18000
    assert limits["rpm"] == 30  # Groq does not announce it: the catalog's stays


def test_learned_limits_reach_other_processes_through_the_store(
    clock: Clock, counters: MemoryCounters, expiring: MemoryExpiring
) -> None:
    one, other = make_quota(clock, counters, expiring), make_quota(clock, counters, expiring)
    raw = {"x-ratelimit-limit-requests-minute": "5", "x-ratelimit-remaining-requests-minute": "4"}
    one.heard("cerebras", "a1", "open", raw)
    other.refresh()
    assert [(lim.name, lim.value) for lim in other.limits("cerebras", "a1", "open")] == [("rpm", 5)]


def test_headers_say_what_is_left_and_this_process_sends_no_more(
    quota: Quota, clock: Clock
) -> None:
    raw = {
        "x-ratelimit-limit-requests-minute": "100",
        "x-ratelimit-remaining-requests-minute": "2",
        "x-ratelimit-reset-requests-minute": "20",
    }
    quota.heard("cerebras", "a1", "open", raw)
    assert [admit(quota, "open", "cerebras") for _ in range(3)] == [True, True, False]
    clock.now = START + 20
    assert admit(quota, "open", "cerebras")


def test_what_headers_said_is_left_holds_its_model_alone_requests_before_tokens(
    quota: Quota, clock: Clock
) -> None:
    raw = {
        "x-ratelimit-remaining-requests-day": "1",
        "x-ratelimit-reset-requests-day": "3600",
        "x-ratelimit-remaining-tokens-minute": "50",
        "x-ratelimit-reset-tokens-minute": "30",
    }
    quota.heard("cerebras", "a1", "open", raw)
    assert quota.precheck("cerebras", "a1", "other", 100).ok  # another model's windows
    tokens = quota.precheck("cerebras", "a1", "open", 100)
    assert (tokens.until, tokens.reason) == (
        START + 30,
        "cerebras said too few tokens are left this minute",
    )
    quota.started("cerebras", "a1", "open")
    # Both windows short now: the requests' is the one named, as admission reads them.
    both = quota.precheck("cerebras", "a1", "open", 100)
    assert (both.until, both.reason) == (
        START + 3600,
        "cerebras said too few requests are left this day",
    )
    clock.now = START + 3600
    quota.maybe_refresh()  # forgets what has reset
    assert quota.precheck("cerebras", "a1", "open", 100).ok


def test_429_cools_account_until_reset(quota: Quota, clock: Clock) -> None:
    quota.cool("groq", "a1", "fast", 12.0, "groq answered 429")
    refused = quota.precheck("groq", "a1", "fast", 1)
    assert (refused.ok, refused.until, refused.reason) == (False, START + 12, "groq answered 429")
    assert quota.precheck("groq", "a2", "fast", 1).ok  # another account is free
    clock.now = START + 12
    assert quota.precheck("groq", "a1", "fast", 1).ok


def test_a_provider_counting_per_account_cools_every_model(quota: Quota) -> None:
    quota.cool("openrouter", "a1", "a:free", 30.0, "openrouter answered 429")
    assert not quota.precheck("openrouter", "a1", "b:free", 1).ok


def test_account_limits_count_across_models(quota: Quota) -> None:
    served = [admit(quota, m, "openrouter") for m in ["a:free", "b:free"] * 15]
    assert sum(served) == 20


def test_cooldowns_reach_other_processes_through_the_store(
    clock: Clock, counters: MemoryCounters, expiring: MemoryExpiring
) -> None:
    one, other = make_quota(clock, counters, expiring), make_quota(clock, counters, expiring)
    one.cool("groq", "a1", "fast", 30.0, "groq answered 429")
    assert other.precheck("groq", "a1", "fast", 1).ok  # not read yet
    other.refresh()
    assert other.precheck("groq", "a1", "fast", 1).until == START + 30


def test_headroom_is_the_share_left_of_the_busiest_window(quota: Quota) -> None:
    assert quota.headroom("groq", "a1", "fast") == 1.0
    for _ in range(15):
        admit(quota)
    assert quota.headroom("groq", "a1", "fast") == pytest.approx(0.5)


def test_headroom_follows_the_window_and_the_limits_in_force(quota: Quota, clock: Clock) -> None:
    for _ in range(15):
        admit(quota)
    assert quota.headroom("groq", "a1", "fast") == pytest.approx(0.5)  # 15 of 30 a minute
    quota.use_catalog(catalog("providers: {groq: {models: [{id: fast, limits: {rpm: 60}}]}}"))
    assert quota.headroom("groq", "a1", "fast") == pytest.approx(0.75)  # of 60, as read again
    assert quota.headroom("groq", "a1", "daily") == 1.0  # no limits left on it
    clock.now += 60
    assert quota.headroom("groq", "a1", "fast") == 1.0  # a new minute


def test_no_limits_means_no_store_write(quota: Quota, counters: MemoryCounters) -> None:
    assert quota.charge("anthropic", "a1", "claude").ok
    assert counters.writes == 0


def serve(quota: Quota, model: str, provider: str) -> None:
    """What the dispatcher does for one answered request: admit, then count."""
    admission = quota.charge(provider, "a1", model)
    assert admission.ok
    quota.count(provider, "a1", model, tuple(key for key, _ in admission.charged), 0)


def test_report_says_what_is_left_of_each_window_in_force(quota: Quota) -> None:
    for _ in range(3):
        serve(quota, "a:free", "openrouter")
    serve(quota, "fast", "groq")
    rows = quota.report("openrouter", "a1", ["a:free", "b:free"])
    assert [(r["scope"], r["name"], r["used"], r["left"]) for r in rows] == [
        ("*", "rpm", 3, 17),
        ("*", "rpd", 3, 47),
    ]
    groq = quota.report("groq", "a1", ["fast", "daily"])
    assert [(r["scope"], r["name"], r["left"]) for r in groq] == [
        ("fast", "rpm", 29),
        ("fast", "rpd", 999),
    ]


def test_a_429s_retry_after_is_believed_over_a_later_window_reset(quota: Quota) -> None:
    # Groq: no tokens left, full again in 7.66 s, but retry-after says 2 s are enough.
    quota.heard("groq", "a1", "fast", headers("groq/error_429_response_headers.txt"))
    assert quota.precheck("groq", "a1", "fast", 10).ok  # the dispatcher cools it by retry-after
