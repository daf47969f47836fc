"""Per gateway key limits: requests per minute and tokens per day, counted in the store.

A request takes one conditional increment of its key's minute window; tokens are charged
after the answer (by whoever records usage) and checked before the next request.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from llm_agg.api.errors import RateLimited
from llm_agg.store.base import CounterStore, GatewayKeyRecord

DAY = 86_400


def _rpm_key(key_id: str, minute: int) -> str:
    return f"gwkey-rpm:{key_id}:{minute}"


def _tokens_key(key_id: str, day: str) -> str:
    return f"gwkey-tokens:{key_id}:{day}"


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


def _seconds_to_midnight(now: float) -> float:
    return DAY - now % DAY


def admit(counters: CounterStore, record: GatewayKeyRecord, now: float) -> None:
    """Count one request of ``record``'s key, or raise 429 if it is over a limit
    (blocking: call it in a thread)."""
    if record.tokens_per_day is not None:
        used = counters.get(_tokens_key(record.key_id, _day(now)))
        if used >= record.tokens_per_day:
            wait = math.ceil(_seconds_to_midnight(now))
            raise RateLimited(
                f"This gateway key has used its {record.tokens_per_day} tokens for today "
                f"(UTC); it is free again in {wait}s.",
                headers={"retry-after": str(wait)},
            )
    if record.requests_per_minute is not None:
        minute = int(now // 60)
        window_end = (minute + 1) * 60
        if (
            counters.increment(
                _rpm_key(record.key_id, minute),
                1,
                expires_at=window_end + 60,
                limit=record.requests_per_minute,
            )
            is None
        ):
            wait = max(1, math.ceil(window_end - now))
            raise RateLimited(
                f"This gateway key is over its limit of {record.requests_per_minute} "
                f"requests per minute; retry in {wait}s.",
                headers={"retry-after": str(wait)},
            )


def charge_tokens(counters: CounterStore, key_id: str, tokens: int, now: float) -> int | None:
    """Add ``tokens`` to the key's count for today (UTC); the new total."""
    if tokens <= 0 or key_id == "-":
        return None
    expires = now + _seconds_to_midnight(now) + DAY
    return counters.increment(_tokens_key(key_id, _day(now)), tokens, expires_at=expires)


def tokens_today(counters: CounterStore, key_id: str, now: float) -> int:
    return counters.get(_tokens_key(key_id, _day(now)))
