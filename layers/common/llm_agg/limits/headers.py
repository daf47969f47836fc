"""Reset times from every provider's rate-limit headers, as seconds from now.

Formats: Go/OpenAI durations (``2m59.56s``, ``250ms``, ``6m0s``), bare seconds (``11.38``),
RFC 3339 timestamps (Anthropic), HTTP dates and epoch seconds or milliseconds (OpenRouter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")

# Epoch values: larger than this many seconds is a timestamp, not a wait.
_EPOCH_SECONDS = 1e9
_EPOCH_MILLIS = 1e12


def parse_reset(value: str, now: float) -> float | None:
    """Seconds until ``value`` (never negative), or None when it cannot be read."""
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number >= _EPOCH_MILLIS:
            return max(0.0, number / 1000 - now)
        if number >= _EPOCH_SECONDS:
            return max(0.0, number - now)
        return max(0.0, number)
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


# (remaining, reset) header pairs of every provider's format.
_LIMIT_PAIRS = (
    ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("x-ratelimit-remaining-requests-day", "x-ratelimit-reset-requests-day"),
    ("x-ratelimit-remaining-tokens-minute", "x-ratelimit-reset-tokens-minute"),
    ("x-ratelimit-remaining", "x-ratelimit-reset"),
    ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
    ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
    ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"),
    ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"),
)


def _exhausted(value: str | None) -> bool:
    try:
        return value is not None and float(value) <= 0
    except ValueError:
        return False


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """How long a 429 asks us to wait: ``retry-after`` first, else the longest reset among the
    limits announced as exhausted, else the shortest reset announced at all."""
    first = headers.get("retry-after")
    if first is not None and (wait := parse_reset(first, now)) is not None:
        return wait
    exhausted: list[float] = []
    announced: list[float] = []
    for remaining, reset in _LIMIT_PAIRS:
        value = headers.get(reset)
        if value is None or (wait := parse_reset(value, now)) is None:
            continue
        announced.append(wait)
        if _exhausted(headers.get(remaining)):
            exhausted.append(wait)
    if exhausted:
        return max(exhausted)
    return min(announced) if announced else None
