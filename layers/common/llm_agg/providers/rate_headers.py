"""Every provider's rate-limit headers, read in its dialect: the limits announced, and resets
as seconds from now. Pure.

Reset formats: Go/OpenAI durations (``2m59.56s``, ``250ms``, ``6m0s``), bare seconds
(``11.38``), RFC 3339 timestamps (Anthropic), HTTP dates and epoch seconds or milliseconds
(OpenRouter).

Which window a header counts is the provider's dialect (``ProviderSpec.rate_limit_headers``,
one of ``DIALECTS``): ``openai`` (``x-ratelimit-*-requests`` / ``-tokens`` per minute),
``groq`` (the same names, but requests per DAY), ``together`` (``x-ratelimit-*`` and
``x-tokenlimit-*`` per second), ``anthropic`` (``anthropic-ratelimit-*``, per minute),
``openrouter`` (``X-RateLimit-*`` on its own 429s only; the reset, in epoch milliseconds, tells
a minute from a day) and ``none``. Every dialect also reads names that carry their window
(Cerebras' ``-requests-day``, ``-tokens-minute``; Mistral's ``-req-minute``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Announced:
    """One limit a provider announced: ``kind`` is ``r`` (requests) or ``t`` (tokens; ``ti``
    and ``to`` for Anthropic's input and output tokens); ``window`` is ``s``, ``m``, ``h``,
    ``d``; ``reset`` is seconds from now. Any of the numbers may be missing."""

    kind: str
    window: str
    limit: int | None
    remaining: int | None
    reset: float | None


_WINDOW_WORDS = {"second": "s", "minute": "m", "hour": "h", "day": "d"}
_KIND_WORDS = {"requests": "r", "tokens": "t", "input-tokens": "ti", "output-tokens": "to"}
_SUFFIX_KINDS = {"requests": "r", "req": "r", "tokens": "t"}
_SUFFIXED = re.compile(
    r"x-ratelimit-(limit|remaining|reset)-(requests|req|tokens)-(second|minute|hour|day)"
)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


Names = tuple[str, str, str]  # the limit, remaining and reset headers of one limit


@functools.cache
def _names(pattern: str) -> Names:
    limit, remaining, reset = (pattern.format(part) for part in ("limit", "remaining", "reset"))
    return limit, remaining, reset


def _read(
    headers: Mapping[str, str], names: Names, kind: str, window: str, now: float
) -> list[Announced]:
    limit, remaining, reset = (headers.get(n) for n in names)
    if limit is None and remaining is None:
        return []
    wait = parse_reset(reset, now) if reset is not None else None
    return [Announced(kind, window, _int(limit), _int(remaining), wait)]


def _openai_style(headers: Mapping[str, str], now: float, requests_window: str) -> list[Announced]:
    return _read(headers, _names("x-ratelimit-{}-requests"), "r", requests_window, now) + _read(
        headers, _names("x-ratelimit-{}-tokens"), "t", "m", now
    )


def _suffixed(headers: Mapping[str, str], now: float) -> list[Announced]:
    pairs = {
        (match[2], match[3]) for name in headers if (match := _SUFFIXED.fullmatch(name.lower()))
    }
    found = []
    for word, span in sorted(pairs):
        names = _names(f"x-ratelimit-{{}}-{word}-{span}")
        found += _read(headers, names, _SUFFIX_KINDS[word], _WINDOW_WORDS[span], now)
    return found


def _anthropic(headers: Mapping[str, str], now: float) -> list[Announced]:
    found = []
    for word, kind in _KIND_WORDS.items():
        found += _read(headers, _names(f"anthropic-ratelimit-{word}-{{}}"), kind, "m", now)
    return found


def _together(headers: Mapping[str, str], now: float) -> list[Announced]:
    tokens = ("x-tokenlimit-limit", "x-tokenlimit-remaining", "x-ratelimit-reset")
    return _read(headers, _names("x-ratelimit-{}"), "r", "s", now) + _read(
        headers, tokens, "t", "s", now
    )


def _openrouter(headers: Mapping[str, str], now: float) -> list[Announced]:
    found = _read(headers, _names("x-ratelimit-{}"), "r", "m", now)
    # The same three headers serve its per-minute and its daily free quota.
    return [
        Announced("r", "d", a.limit, a.remaining, a.reset)
        if a.reset is not None and a.reset > 120
        else a
        for a in found
    ]


Reader = Callable[[Mapping[str, str], float], list[Announced]]

# Dialect name → what it adds to the names that carry their window.
DIALECTS: Mapping[str, Reader] = {
    "openai": lambda headers, now: _openai_style(headers, now, "m"),
    "groq": lambda headers, now: _openai_style(headers, now, "d"),
    "anthropic": _anthropic,
    "together": _together,
    "openrouter": _openrouter,
    "none": lambda headers, now: [],
}


def announced(dialect: str, headers: Mapping[str, str], now: float) -> list[Announced]:
    """The limits a response's headers announce, read in the provider's dialect."""
    if dialect == "none":
        return []
    # Every name read has "limit" in it. A response carries a dozen other headers, and each
    # lookup in httpx.Headers scans them all: a plain dict of these few first (28 -> 7 µs).
    limits = {low: value for name, value in headers.items() if "limit" in (low := name.lower())}
    if not limits:
        return []
    return _suffixed(limits, now) + DIALECTS[dialect](limits, now)
