"""Latency histograms of usage rows: fixed buckets both backends add to, percentiles from them.

A bucket is named by its upper bound in milliseconds, as text ("250"), the last by "inf"; a
percentile is the upper bound of the bucket it falls in, so p95 = 500 means "at most 500 ms".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BOUNDS_MS: tuple[float, ...] = (
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, math.inf,
)  # fmt: skip


def label(bound: float) -> str:
    return "inf" if math.isinf(bound) else str(int(bound))


LABELS: tuple[str, ...] = tuple(label(b) for b in BOUNDS_MS)


def bucket(latency_ms: float) -> str:
    """The label of the bucket ``latency_ms`` falls in."""
    for bound in BOUNDS_MS:
        if latency_ms <= bound:
            return label(bound)
    return "inf"


def merge(into: dict[str, int], other: Mapping[str, int]) -> dict[str, int]:
    for name, count in other.items():
        into[name] = into.get(name, 0) + count
    return into


def percentile(histogram: Mapping[str, int], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` (0 < q ≤ 1); None when empty.
    Past the last finite bound, that bound is returned: the answer is then "over a minute"."""
    total = sum(histogram.get(name, 0) for name in LABELS)
    if total <= 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for bound, name in zip(BOUNDS_MS, LABELS, strict=True):
        seen += histogram.get(name, 0)
        if seen >= rank:
            return bound if not math.isinf(bound) else BOUNDS_MS[-2]
    return BOUNDS_MS[-2]
