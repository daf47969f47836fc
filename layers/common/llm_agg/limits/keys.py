"""Per gateway key limits: requests per minute and tokens per day, counted in the store.

A request takes one conditional increment of its key's minute window. Tokens are known only
after the answer, so a key with ``tokens_per_day`` first *reserves* what the request may use
(its prompt estimate and completion cap) in one conditional increment, which refuses past the
limit however many requests race; the answer's real tokens are charged when it is counted and
the reservation is given back (``release_tokens``), so the day's count ends at what was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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


RESERVE_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Held:
    """Tokens of one day's count held for a request in flight."""

    counter: str
    amount: int
    expires_at: float


NOTHING_HELD = Held("", 0, 0.0)


def reserve_tokens(
    counters: CounterStore, record: GatewayKeyRecord, wanted: int, least: int, now: float
) -> Held:
    """Hold up to ``wanted`` of the key's tokens for today, at least ``least`` (the prompt), or
    raise 429 (blocking: call it in a thread). When less than ``wanted`` is left the request
    takes what is left, so requests racing it find nothing and are refused."""
    limit = record.tokens_per_day
    if limit is None or wanted <= 0:
        return NOTHING_HELD
    counter = _tokens_key(record.key_id, _day(now))
    expires = now + _seconds_to_midnight(now) + DAY
    for _ in range(RESERVE_RETRIES):
        left = limit - counters.get(counter)
        amount = min(wanted, left)
        if amount <= 0 or amount < min(least, wanted):
            break
        if counters.increment(counter, amount, expires_at=expires, limit=limit) is not None:
            return Held(counter, amount, expires)
    wait = math.ceil(_seconds_to_midnight(now))
    raise RateLimited(
        f"This gateway key has too few of its {limit} tokens left today (UTC) for this "
        f"request, counting those held by its requests in flight; retry in {wait}s at most.",
        headers={"retry-after": str(wait)},
    )


def release_tokens(counters: CounterStore, held: Held) -> None:
    """Give back a reservation, to the day it was taken from (the real use is charged apart)."""
    if held.amount > 0:
        counters.increment(held.counter, -held.amount, expires_at=held.expires_at)
