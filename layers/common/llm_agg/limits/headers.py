"""How long a provider's 429 asks us to wait, from its headers.

The headers' dialects (which window each one counts) are the providers' own
(``llm_agg.providers.rate_headers``); re-exported here for the quota's use.
"""

from __future__ import annotations

from collections.abc import Mapping

from llm_agg.providers.rate_headers import Announced, announced, parse_reset

__all__ = ["Announced", "announced", "parse_reset", "retry_after"]


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
