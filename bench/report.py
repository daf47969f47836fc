"""The markdown report: one column per server, median of the repetitions with their spread, and
each figure "added" over direct taken within the same repetition (interleaved), so a busy
machine moves both sides of a difference together.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence

# samples[step][server][metric] -> one value per repetition
Samples = Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]]
DIRECT = "direct"


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(values: Sequence[float]) -> str:
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return "n/a"
    mid = statistics.median(clean)
    if len(clean) == 1:
        return _num(mid)
    return f"{_num(mid)} [{_num(min(clean))}, {_num(max(clean))}]"


def added(samples: Samples, step: str, server: str, metric: str) -> list[float]:
    """Per repetition: the server's figure minus direct's, both from the same repetition."""
    mine = samples[step][server][metric]
    base = samples[step][DIRECT][metric]
    return [a - b for a, b in zip(mine, base, strict=True)]


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


Row = tuple[str, Callable[[str], str]]


def table(
    samples: Samples, servers: Sequence[str], high: str, extra: Mapping[str, Mapping[str, str]]
) -> str:
    def plain(step: str, metric: str) -> Callable[[str], str]:
        return lambda s: _cell(samples[step][s][metric])

    def total(step: str, metric: str) -> Callable[[str], str]:
        return lambda s: f"{sum(samples[step][s][metric]):.0f}"

    def over(step: str, metric: str) -> Callable[[str], str]:
        return lambda s: "—" if s == DIRECT else _cell(added(samples, step, s, metric))

    n = high.removeprefix("c")
    rows: list[Row] = [
        ("p50 latency, 1 connection (ms)", plain("c1", "p50_ms")),
        ("**added p50, 1 connection (ms)**", over("c1", "p50_ms")),
        ("p99 latency, 1 connection (ms)", plain("c1", "p99_ms")),
        ("added p99, 1 connection (ms)", over("c1", "p99_ms")),
        (f"p50 latency, {n} connections (ms)", plain(high, "p50_ms")),
        (f"added p50, {n} connections (ms)", over(high, "p50_ms")),
        (f"p99 latency, {n} connections (ms)", plain(high, "p99_ms")),
        (f"added p99, {n} connections (ms)", over(high, "p99_ms")),
        (f"**throughput, {n} connections (req/s)**", plain(high, "rps")),
        (f"server CPU per request, {n} connections (µs)", plain(high, "cpu_us_per_req")),
        (f"server CPU in use, {n} connections (cores)", plain(high, "cpu_cores")),
        ("stream: time to first byte p50 (ms)", plain("stream", "ttfb_p50_ms")),
        ("**stream: added time to first byte p50 (ms)**", over("stream", "ttfb_p50_ms")),
        ("stream: time to first byte p99 (ms)", plain("stream", "ttfb_p99_ms")),
        ("stream: whole stream p50 (ms)", plain("stream", "total_p50_ms")),
        ("streams measured (all repetitions)", total("stream", "streams")),
    ]

    def given(label: str) -> Callable[[str], str]:
        return lambda s: extra.get(s, {}).get(label, "")

    rows += [(label, given(label)) for label in next(iter(extra.values()), {})]
    lines = ["| | " + " | ".join(servers) + " |", "| --- |" + " ---: |" * len(servers)]
    lines += ["| " + label + " | " + " | ".join(f(s) for s in servers) + " |" for label, f in rows]
    return "\n".join(lines)


def goals(samples: Samples, servers: Sequence[str], high: str) -> list[str]:
    """The targets of issue 2, checked against this run's medians."""
    if "llm-agg" not in servers:
        return []
    ours_c1 = median(added(samples, "c1", "llm-agg", "p50_ms"))
    lines = [
        f"- added p50 at 1 connection ≤ 1 ms: {_num(ours_c1)} ms → "
        + ("met" if ours_c1 <= 1 else "**not met**")
    ]
    if "LiteLLM" in servers:
        theirs_c1 = median(added(samples, "c1", "LiteLLM", "p50_ms"))
        ratio = ours_c1 / theirs_c1 if theirs_c1 > 0 else math.nan
        lines.append(
            f"- added p50 at 1 connection ≤ ¼ of LiteLLM's ({_num(theirs_c1)} ms): "
            f"{_num(ratio)}x → " + ("met" if ratio <= 0.25 else "**not met**")
        )
        ours_rps = median(samples[high]["llm-agg"]["rps"])
        theirs_rps = median(samples[high]["LiteLLM"]["rps"])
        times = ours_rps / theirs_rps if theirs_rps > 0 else math.nan
        lines.append(
            f"- saturated throughput ≥ 5x LiteLLM's ({_num(theirs_rps)} req/s): "
            f"{_num(ours_rps)} req/s = {_num(times)}x → " + ("met" if times >= 5 else "**not met**")
        )
    return lines
