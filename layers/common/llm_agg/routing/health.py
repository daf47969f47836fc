"""Measured health of each provider and model: moving averages of latency and success.

Kept per process (it is a hint for ordering, not a limit): each answer or failure updates an
exponentially weighted average, so recent behaviour counts most and old trouble fades.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_agg.routing.select import NO_SIGNALS, Signals

ALPHA = 0.2  # weight of the newest observation


@dataclass(slots=True)
class _Average:
    latency_ms: float | None = None
    success: float = 1.0
    samples: int = 0
    failures: int = 0
    last_error: str | None = None


MAX_TRACKED = 10_000  # (provider, model) pairs kept


class Health:
    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], _Average] = {}

    def observe(
        self,
        provider: str,
        model: str,
        ok: bool,
        latency_ms: float | None,
        error: str | None = None,
    ) -> None:
        key = (provider, model)
        stats = self._stats.get(key)
        if stats is None:
            if len(self._stats) >= MAX_TRACKED:
                # Clients name models freely ("provider/anything"): the oldest goes, so a spray
                # of made-up ids cannot grow this process without bound.
                del self._stats[next(iter(self._stats))]
            stats = self._stats[key] = _Average()
        stats.samples += 1
        stats.success += ALPHA * ((1.0 if ok else 0.0) - stats.success)
        if ok and latency_ms is not None:
            if stats.latency_ms is None:
                stats.latency_ms = latency_ms
            else:
                stats.latency_ms += ALPHA * (latency_ms - stats.latency_ms)
        if not ok:
            stats.failures += 1
            stats.last_error = error

    def signals(self, provider: str, model: str, headroom: float = 1.0) -> Signals:
        stats = self._stats.get((provider, model))
        if stats is None:
            return NO_SIGNALS if headroom == 1.0 else Signals(headroom=headroom)
        return Signals(stats.latency_ms, stats.success, stats.samples, headroom)

    def snapshot(self) -> dict[tuple[str, str], dict[str, object]]:
        return {
            key: {
                "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 1),
                "success": round(s.success, 3),
                "samples": s.samples,
                "failures": s.failures,
                "last_error": s.last_error,
            }
            for key, s in self._stats.items()
        }
