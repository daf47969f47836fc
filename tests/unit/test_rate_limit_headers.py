"""``limits/headers.py``: every provider's rate-limit headers, from the recorded and documented
fixtures, and every way a provider writes when a window resets."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from llm_agg.limits.headers import Announced, announced, parse_reset, retry_after
from tests.support.fixtures import headers

NOW = 1_788_800_000.0


def by_window(items: list[Announced]) -> dict[str, Announced]:
    return {f"{a.kind}p{a.window}": a for a in items}


def test_groq_requests_are_per_day_and_tokens_per_minute() -> None:
    found = by_window(announced("groq", headers("groq/response_headers_ratelimit.txt"), NOW))
    assert found["rpd"] == Announced("r", "d", 14400, 14370, 179.56)
    assert found["tpm"].limit == 18000
    assert found["tpm"].remaining == 17997
    assert found["tpm"].reset == 7.66
    assert set(found) == {"rpd", "tpm"}


def test_groq_429_retry_after_wins_over_the_token_reset() -> None:
    raw = headers("groq/error_429_response_headers.txt")
    assert retry_after(raw, NOW) == 2
    assert by_window(announced("groq", raw, NOW))["tpm"].remaining == 0


def test_openai_requests_and_tokens_are_per_minute_in_milliseconds() -> None:
    found = by_window(announced("openai", headers("openai/response_headers_ratelimit.txt"), NOW))
    assert found["rpm"] == Announced("r", "m", 5000, 4999, 0.012)
    assert found["tpm"].reset == pytest.approx(0.009)


def test_cerebras_names_its_windows_and_resets_in_float_seconds() -> None:
    raw = headers("cerebras/response_headers_ratelimit.txt")
    for dialect in ("openai", "groq"):  # the window is in the name, whatever the dialect
        found = by_window(announced(dialect, raw, NOW))
        assert found["rpd"].limit == 1_000_000_000
        assert found["rpd"].remaining == 999_997_455
        assert found["rpd"].reset == pytest.approx(33011.382867097855)
        assert found["tpm"].remaining == 999_998_298


def test_together_counts_per_second() -> None:
    found = by_window(
        announced("together", headers("together/response_headers_ratelimit.txt"), NOW)
    )
    assert found["rps"] == Announced("r", "s", 10, 9, 1.0)
    assert found["tps"] == Announced("t", "s", 1000, 978, 1.0)


def test_anthropic_resets_are_rfc3339_moments() -> None:
    raw = headers("anthropic/response_headers_ratelimit.txt")
    now = datetime.fromisoformat("2026-02-25T20:02:30+00:00").timestamp()
    found = {a.kind: a for a in announced("anthropic", raw, now)}
    assert found["r"] == Announced("r", "m", 50, 49, 2.0)
    assert found["t"] == Announced("t", "m", 38000, 36000, 6.0)
    assert found["ti"].remaining == 28000
    assert found["to"].limit == 8000


def test_anthropic_429_says_which_limits_are_exhausted() -> None:
    raw = headers("anthropic/error_429_response_headers.txt")
    now = datetime.fromisoformat("2026-02-25T20:02:30+00:00").timestamp()
    exhausted = {a.kind for a in announced("anthropic", raw, now) if a.remaining == 0}
    assert exhausted == {"r", "t", "ti"}
    assert retry_after(raw, now) == 23


def test_openrouter_429_reset_in_epoch_milliseconds_reads_as_its_daily_quota() -> None:
    raw = headers("openrouter/error_429_response_headers.txt")
    now = 1788825600.0 - 3600  # an hour before the reset
    (found,) = announced("openrouter", raw, now)
    assert found == Announced("r", "d", 50, 0, 3600.0)


def test_openrouter_429_with_a_near_reset_is_its_minute_quota() -> None:
    raw = {
        "x-ratelimit-limit": "20",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(int((NOW + 30) * 1000)),
    }
    (found,) = announced("openrouter", raw, NOW)
    assert (found.window, found.reset) == ("m", 30.0)


def test_header_names_are_case_insensitive_on_real_responses() -> None:
    raw = httpx.Headers(
        {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "3",
            "X-RateLimit-Reset": "1788825600000",
        }
    )
    assert announced("openrouter", raw, 1788825600.0 - 600)[0].remaining == 3


def test_only_the_limit_headers_are_read_among_the_others_and_repeats_are_joined() -> None:
    recorded = headers("groq/response_headers_ratelimit.txt")
    noisy = httpx.Headers(
        [("Server", "x"), ("Via", "1.1 y"), ("X-Request-Id", "r"), *recorded.items()]
    )
    assert announced("groq", noisy, NOW) == announced("groq", recorded, NOW)
    twice = httpx.Headers(
        [("x-ratelimit-limit-requests", "10"), ("x-ratelimit-limit-requests", "20")]
    )
    assert announced("openai", twice, NOW) == [Announced("r", "m", None, None, None)]


def test_a_provider_without_headers_announces_nothing() -> None:
    assert announced("none", headers("cerebras/response_headers_ratelimit.txt"), NOW) == []
    assert announced("openai", {}, NOW) == []


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2m59.56s", 179.56),
        ("7.66s", 7.66),
        ("250ms", 0.25),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("11.382867", 11.382867),
        ("30", 30.0),
        (str(NOW + 42), 42.0),  # epoch seconds
        (str(int((NOW + 5) * 1000)), 5.0),  # epoch milliseconds (OpenRouter)
        ("2027-01-15T08:00:10Z", 1_800_000_010.0 - NOW),  # RFC 3339 (Anthropic)
        ("Fri, 15 Jan 2027 08:00:10 GMT", 1_800_000_010.0 - NOW),  # HTTP date
    ],
)
def test_every_reset_format_becomes_seconds_from_now(value: str, seconds: float) -> None:
    assert parse_reset(value, NOW) == pytest.approx(seconds)


def test_a_reset_in_the_past_is_zero_and_garbage_is_none() -> None:
    assert parse_reset("2001-01-01T00:00:00Z", NOW) == 0.0
    assert parse_reset("soon", NOW) is None
    assert parse_reset("", NOW) is None


def test_retry_after_wins_over_reset_headers() -> None:
    headers = {"retry-after": "3", "x-ratelimit-reset-requests": "2m0s"}
    assert retry_after(headers, NOW) == 3.0


def test_the_exhausted_limit_decides_not_the_longest_window() -> None:
    # Groq: the daily request window has room, the minute token window is empty.
    headers = {
        "x-ratelimit-remaining-requests": "14370",
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "7.66s",
    }
    assert retry_after(headers, NOW) == pytest.approx(7.66)
