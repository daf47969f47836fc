"""What /v1/responses adds next to /v1/chat/completions, on the same gateway and upstream.

Starts the fake upstream and ``llm-agg serve --workers 1``, then, interleaved over several
repetitions, sends the same question both ways: non-streaming, one request at a time over one
kept-alive connection (latency), and streamed (time to first byte, whole stream). Responses
goes twice: ``store: false`` (as Codex sends it: the translation alone) and ``store: true``
(the default: plus one write to the SQLite store). Prints a markdown table of medians.

    .venv/bin/python bench/responses_vs_chat.py --requests 400 --streams 100 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from servers import BENCH, cpu_seconds, fake_upstream, free_port, gateway
from ttfb import percentile

QUESTION = "Say hello."
MODEL = "groq/llama-3.3-70b-versatile"
Body = dict[str, object]

WAYS: dict[str, tuple[str, Body]] = {
    "chat": (
        "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 64},
    ),
    "responses, store false": (
        "/v1/responses",
        {"model": MODEL, "input": QUESTION, "max_output_tokens": 64, "store": False},
    ),
    "responses, store true": (
        "/v1/responses",
        {"model": MODEL, "input": QUESTION, "max_output_tokens": 64, "store": True},
    ),
}
ENDS = {"/v1/chat/completions": b"data: [DONE]", "/v1/responses": b'"response.completed"'}


def latencies(client: httpx.Client, path: str, body: Body, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.post(path, json=body)
        out.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code} {response.text[:200]}")
    return out


def streams(client: httpx.Client, path: str, body: Body, n: int) -> tuple[list[float], list[float]]:
    first_bytes, wholes = [], []
    for _ in range(n):
        started = time.perf_counter()
        first = None
        data = bytearray()
        with client.stream("POST", path, json={**body, "stream": True}) as response:
            for raw in response.iter_raw():
                if first is None and raw:
                    first = time.perf_counter()
                data += raw
        ended = time.perf_counter()
        if response.status_code != 200 or first is None or ENDS[path] not in data[-4000:]:
            raise RuntimeError(f"{path}: broken stream {bytes(data[-300:])!r}")
        first_bytes.append(first - started)
        wholes.append(ended - started)
    return first_bytes, wholes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=400, help="non-streaming, per way and rep")
    p.add_argument("--streams", type=int, default=100, help="streams, per way and rep")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    if not (1 <= args.requests <= 5000 and 1 <= args.streams <= 1000 and 1 <= args.reps <= 10):
        p.error("keep it bounded: requests 1-5000, streams 1-1000, reps 1-10")
    logs = BENCH / "results" / f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-responses-logs"
    fake_port, gw_port = free_port(), free_port()
    fake = fake_upstream(fake_port, 20, 5, logs)
    ours = gateway(gw_port, fake_port, 1, logs)
    figures: dict[str, dict[str, list[float]]] = {way: {} for way in WAYS}

    def note(
        way: str, name: str, values: list[float], pick: Callable[[list[float]], float]
    ) -> None:
        figures[way].setdefault(name, []).append(pick(values) * 1000)

    try:
        for server in (fake, ours):
            server.start()
            server.wait_ready(60)
        with httpx.Client(base_url=ours.origin, timeout=30.0) as client:
            for path, body in WAYS.values():  # warm up, and check every way answers
                latencies(client, path, body, 20)
                streams(client, path, body, 5)
            for rep in range(args.reps):
                order = list(WAYS)[rep % 3 :] + list(WAYS)[: rep % 3]
                for way in order:
                    path, body = WAYS[way]
                    cpu = cpu_seconds(ours.tree())
                    lat = latencies(client, path, body, args.requests)
                    used = (cpu_seconds(ours.tree()) - cpu) / args.requests
                    note(way, "cpu", [used], lambda v: v[0])
                    note(way, "p50", lat, lambda v: percentile(v, 50))
                    note(way, "p99", lat, lambda v: percentile(v, 99))
                    cpu = cpu_seconds(ours.tree())
                    first, whole = streams(client, path, body, args.streams)
                    used = (cpu_seconds(ours.tree()) - cpu) / args.streams
                    note(way, "stream cpu", [used], lambda v: v[0])
                    note(way, "ttfb p50", first, lambda v: percentile(v, 50))
                    note(way, "stream p50", whole, lambda v: percentile(v, 50))
    finally:
        for server in (ours, fake):
            server.stop()

    names = ["cpu", "p50", "p99", "stream cpu", "ttfb p50", "stream p50"]
    chat = {n: statistics.median(figures["chat"][n]) for n in names}
    print(f"{args.reps} reps x {args.requests} requests and {args.streams} streams per way")
    print(
        "| way | server CPU / request (µs) | added CPU | latency p50 (ms) | latency p99 (ms) "
        "| server CPU / stream (µs) | added | stream TTFB p50 (ms) | whole stream p50 (ms) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for way in WAYS:
        m = {n: statistics.median(figures[way][n]) for n in names}
        print(
            f"| {way} | {m['cpu'] * 1000:.0f} | {(m['cpu'] - chat['cpu']) * 1000:+.0f} "
            f"| {m['p50']:.2f} | {m['p99']:.2f} | {m['stream cpu'] * 1000:.0f} "
            f"| {(m['stream cpu'] - chat['stream cpu']) * 1000:+.0f} | {m['ttfb p50']:.2f} "
            f"| {m['stream p50']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
