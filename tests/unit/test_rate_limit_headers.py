from __future__ import annotations

import pytest

from llm_agg.limits.headers import parse_reset, retry_after

NOW = 1_800_000_000.0


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


def test_groq_recorded_429_headers_give_a_wait(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    lines = fixture_bytes("groq/error_429_response_headers.txt").decode().splitlines()
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines) if v
    }
    wait = retry_after(headers, NOW)
    assert wait is not None and wait > 0
