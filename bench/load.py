"""One measurement step against one server: wrk for non-streaming load, httpx for streams.

Every step returns flat figures (milliseconds, requests per second, microseconds of the
server's CPU per request) that the report compares across servers and repetitions.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import time
from dataclasses import dataclass

from servers import BENCH, Server, cpu_seconds
from ttfb import StreamStats, Target, measure_in_turns, percentile

LUA = BENCH / "chat.lua"


def chat_body(model: str) -> str:
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 64}
    )


@dataclass(frozen=True)
class Figures:
    values: dict[str, float]
    errors: int
    note: str = ""


def run_wrk(
    wrk: str, server: Server, connections: int, duration: int, fresh: bool = False
) -> Figures:
    """wrk's figures and the server's CPU per request; ``fresh``: a new connection for every
    request (``Connection: close``) rather than kept ones."""
    env = {**os.environ, "BENCH_BODY": chat_body(server.model), "BENCH_KEY": server.api_key or ""}
    env["BENCH_CONNECTION"] = "close" if fresh else ""
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
    argv += ["-s", str(LUA), server.url]
    pids = server.tree()
    cpu_before, started = cpu_seconds(pids), time.monotonic()
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    elapsed, cpu = time.monotonic() - started, cpu_seconds(pids) - cpu_before
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    out = json.loads(line.removeprefix("BENCH_JSON "))
    requests = out["requests"]
    latency = out["latency_us"]
    errors = sum(out["errors"].values())
    return Figures(
        {
            "p50_ms": latency["p50"] / 1000,
            "p99_ms": latency["p99"] / 1000,
            "rps": requests / (out["duration_us"] / 1e6),
            "cpu_us_per_req": cpu / requests * 1e6 if requests else math.nan,
            "cpu_cores": cpu / elapsed,
        },
        errors,
        note="" if not errors else f"{errors} errors ({out['errors']})",
    )


def _stream_figures(stats: StreamStats) -> Figures:
    return Figures(
        {
            "ttfb_p10_ms": percentile(stats.ttfb_s, 10) * 1000,
            "ttfb_p50_ms": percentile(stats.ttfb_s, 50) * 1000,
            "ttfb_p99_ms": percentile(stats.ttfb_s, 99) * 1000,
            "total_p50_ms": percentile(stats.total_s, 50) * 1000,
            "streams": float(len(stats.ttfb_s)),
        },
        stats.errors,
        note=stats.first_error or "",
    )


def run_streams(
    servers: list[Server], duration: float, concurrency: int, turn: float | None = None
) -> list[Figures]:
    """Streams to each server for ``duration`` seconds, the servers taking turns of ``turn``."""
    targets = [Target(s.url, s.model, s.api_key) for s in servers]
    every = asyncio.run(measure_in_turns(targets, duration, concurrency, turn))
    return [_stream_figures(stats) for stats in every]
