"""Time to first byte of streamed chat completions, measured with httpx at low concurrency.

An httpx streaming client tops out near a thousand streams a second on this machine, so this
measures latency, not throughput: a few concurrent streams, each timed from the moment the
request is sent to its first body byte and to its end. A stream that does not end with
``data: [DONE]``, carries an error event or answers non-200 counts as an error, not a sample.

Alone: ``python bench/ttfb.py http://127.0.0.1:8000/v1/chat/completions --model groq/x``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class StreamStats:
    ttfb_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def fail(self, why: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or why


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def stream_body(model: str) -> bytes:
    return json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 64,
            "stream": True,
        }
    ).encode()


async def _one(client: httpx.AsyncClient, url: str, body: bytes, stats: StreamStats) -> None:
    started = time.perf_counter()
    first: float | None = None
    data = bytearray()
    try:
        async with client.stream("POST", url, content=body) as response:
            async for raw in response.aiter_raw():
                if first is None and raw:
                    first = time.perf_counter()
                data += raw
            status = response.status_code
    except httpx.HTTPError as exc:
        stats.fail(f"{type(exc).__name__}: {exc}")
        return
    ended = time.perf_counter()
    text = bytes(data)
    if status != 200:
        stats.fail(f"HTTP {status}: {text[:200]!r}")
    elif b'"error"' in text:
        stats.fail(f"error event in stream: {text[-300:]!r}")
    elif not text.rstrip().endswith(b"data: [DONE]"):
        stats.fail(f"stream did not end with [DONE]: {text[-200:]!r}")
    elif first is None:
        stats.fail("empty stream")
    else:
        stats.ttfb_s.append(first - started)
        stats.total_s.append(ended - started)
        stats.events.append(text.count(b"data: "))


@dataclass(frozen=True)
class Target:
    """Where streams go: a chat completions URL, the model to ask for, the key to send."""

    url: str
    model: str
    api_key: str | None = None


def _client(target: Target, concurrency: int) -> httpx.AsyncClient:
    headers = {"content-type": "application/json"}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(headers=headers, timeout=30.0, limits=limits)


async def measure_in_turns(
    targets: list[Target],
    duration: float = 5.0,
    concurrency: int = 4,
    turn: float | None = None,
    max_streams: int = 5000,
) -> list[StreamStats]:
    """Streams to each target for ``duration`` seconds in all (at most ``max_streams``),
    ``concurrency`` at a time, the targets taking turns of ``turn`` seconds (A, B, A, B, ...;
    a single turn each when ``None``).

    Turns spread every target over the same stretch of the run, so when the machine's speed
    drifts within it (other tenants of the host) all targets see the drift alike and their
    difference is paired. Each target keeps one client, so its connections stay open across
    its turns; the first stream of each lane in a turn finds its server idle since its last
    turn, as a real server's first request after a pause does.
    """
    turn = duration if turn is None else min(turn, duration)
    stats = [StreamStats() for _ in targets]
    started = [0 for _ in targets]
    clients = [_client(t, concurrency) for t in targets]

    async def lane(i: int, body: bytes, deadline: float) -> None:
        while time.perf_counter() < deadline and started[i] < max_streams:
            started[i] += 1
            await _one(clients[i], targets[i].url, body, stats[i])

    try:
        for _ in range(max(1, round(duration / turn))):
            for i, target in enumerate(targets):
                body, deadline = stream_body(target.model), time.perf_counter() + turn
                await asyncio.gather(*(lane(i, body, deadline) for _ in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    return stats


async def measure(
    url: str,
    model: str,
    api_key: str | None = None,
    duration: float = 5.0,
    concurrency: int = 4,
    max_streams: int = 5000,
) -> StreamStats:
    """Streams for ``duration`` seconds (at most ``max_streams``), ``concurrency`` at a time."""
    (stats,) = await measure_in_turns(
        [Target(url, model, api_key)], duration, concurrency, None, max_streams
    )
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    stats = asyncio.run(
        measure(args.url, args.model, args.api_key, args.duration, args.concurrency)
    )
    summary = {
        "streams": len(stats.ttfb_s),
        "errors": stats.errors,
        "first_error": stats.first_error,
        "ttfb_ms": {f"p{p}": round(percentile(stats.ttfb_s, p) * 1000, 3) for p in (50, 90, 99)},
        "whole_stream_ms_p50": round(percentile(stats.total_s, 50) * 1000, 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
