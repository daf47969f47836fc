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
        # The low tenth, beside p50 (the figure): whether the gateway's gap is in
        # every stream or only in those delayed by other work on the 2 cores.
        ("stream: time to first byte p10 (ms)", plain("stream", "ttfb_p10_ms")),
        ("stream: added time to first byte p10 (ms)", over("stream", "ttfb_p10_ms")),
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


def goals(
    samples: Samples, servers: Sequence[str], high: str, rss_per_worker_mb: float = math.nan
) -> list[str]:
    """The targets of issue 17, checked against this run's medians."""
    if "llm-agg" not in servers:
        return []

    def check(label: str, value: float, unit: str, met: bool) -> str:
        return f"- {label}: {_num(value)}{unit} → " + ("met" if met else "**not met**")

    c1 = median(added(samples, "c1", "llm-agg", "p50_ms"))
    ttfb = median(added(samples, "stream", "llm-agg", "ttfb_p50_ms"))
    cpu = median(samples[high]["llm-agg"]["cpu_us_per_req"])
    lines = [
        check("added p50 at 1 connection ≤ 0.5 ms", c1, " ms", c1 <= 0.5),
        check("stream: added time to first byte p50 ≤ 0.5 ms", ttfb, " ms", ttfb <= 0.5),
        check("server CPU per request at saturation ≤ 900 µs", cpu, " µs", cpu <= 900),
    ]
    if not math.isnan(rss_per_worker_mb):
        lines.append(
            check(
                "RSS per worker after load ≤ 60 MB",
                rss_per_worker_mb,
                " MB",
                rss_per_worker_mb <= 60,
            )
        )
    if "LiteLLM" in servers:
        ours_rps = median(samples[high]["llm-agg"]["rps"])
        theirs_rps = median(samples[high]["LiteLLM"]["rps"])
        times = ours_rps / theirs_rps if theirs_rps > 0 else math.nan
        lines.append(
            f"- saturated throughput ≥ 10x LiteLLM's ({_num(theirs_rps)} req/s): "
            f"{_num(ours_rps)} req/s = {_num(times)}x → "
            + ("met" if times >= 10 else "**not met**")
        )
    return lines
