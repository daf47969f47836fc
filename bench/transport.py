"""The upstream HTTP client's own cost: CPU per request of ``httpx.AsyncClient`` on its default
transport (httpcore), of ``httpx.AsyncClient`` on ``llm_agg.http_transport.UpstreamTransport``,
and of the client the gateway uses (``upstream_client()``: ``UpstreamClient`` on that
transport), in one process, against ``bench/fake_upstream.py`` on loopback (started here,
stopped at the end).

Cases: 1 and 32 requests at a time, one answer or a 20-chunk stream read to its end (as the
relay reads it, ``aiter_raw``), both clients configured as ``Runtime.client`` is. Each round
runs every case on each client in turn (interleaved); the table gives the minimum and median
over rounds of ``time.process_time()`` per request: this process's CPU only, not the fake's,
so it moves far less on a shared machine than a wall-clock figure.

    .venv/bin/python bench/transport.py --rounds 7 --requests 2000
    .venv/bin/python bench/transport.py --rounds 5 --requests 320 --chunk-delay-ms 1

With ``--chunk-delay-ms`` each stream chunk arrives on its own (a read, a wake-up each), as a
provider's tokens do; without, a stream's 20 chunks arrive together.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvloop
from servers import CHAT_PATH, fake_upstream, free_port

from llm_agg.http_transport import UpstreamTransport, upstream_client

# As Runtime.client makes it.
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
ANSWER = b'{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"Hi"}]}'
STREAM = ANSWER[:-1] + b',"stream":true}'
Call = Callable[[httpx.AsyncClient, str], Awaitable[None]]


async def one_answer(client: httpx.AsyncClient, url: str) -> None:
    response = await client.post(url, content=ANSWER)
    if response.status_code != 200 or not response.content:
        raise RuntimeError(f"HTTP {response.status_code}")


async def stream(client: httpx.AsyncClient, url: str) -> None:
    request = client.build_request("POST", url, content=STREAM)
    response = await client.send(request, stream=True)
    try:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        async for _ in response.aiter_raw():
            pass
    finally:
        await response.aclose()


async def timed(client: httpx.AsyncClient, url: str, call: Call, at_once: int, n: int) -> float:
    """CPU µs per request for ``n`` requests, ``at_once`` in flight."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await call(client, url)

    gc.collect()
    started = time.process_time()
    await asyncio.gather(*(worker(n // at_once) for _ in range(at_once)))
    return (time.process_time() - started) / (n // at_once * at_once) * 1e6


async def measure(url: str, rounds: int, requests: int) -> dict[str, dict[str, list[float]]]:
    clients = {
        "httpx default (httpcore)": httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS),
        "UpstreamTransport": httpx.AsyncClient(
            timeout=TIMEOUT, limits=LIMITS, transport=UpstreamTransport(limits=LIMITS)
        ),
        "upstream_client()": upstream_client(timeout=TIMEOUT, limits=LIMITS),
    }
    cases = {
        f"{kind}, {at_once} at a time": (call, at_once)
        for at_once in (1, 32)
        for kind, call in (("one answer", one_answer), ("stream, 20 chunks", stream))
    }
    figures: dict[str, dict[str, list[float]]] = {case: {} for case in cases}
    try:
        for rep in range(rounds + 1):  # the first round opens the pools and warms up
            for case, (call, at_once) in cases.items():
                for name, client in clients.items():
                    per = await timed(client, url, call, at_once, requests)
                    if rep:
                        figures[case].setdefault(name, []).append(per)
    finally:
        for client in clients.values():
            await client.aclose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000, help="per case, client and round")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--chunk-delay-ms",
        type=float,
        default=0.0,
        help="between stream chunks: 0 sends a stream in one go, more makes each chunk a read",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    port = free_port()
    with tempfile.TemporaryDirectory() as logs:
        upstream = fake_upstream(port, 20, args.chunk_delay_ms, Path(logs))
        upstream.start()
        try:
            upstream.wait_ready(30)
            url = f"http://127.0.0.1:{port}{CHAT_PATH}"
            run = uvloop.run if args.loop == "uvloop" else asyncio.run
            figures = run(measure(url, args.rounds, args.requests))
        finally:
            upstream.stop()
    print(f"$ .venv/bin/python bench/transport.py {' '.join(sys.argv[1:])}".rstrip())
    for when, load in (("before", load_before), ("after", os.getloadavg())):
        print(f"load average (1, 5, 15 min) {when}: " + " ".join(f"{x:.2f}" for x in load))
    names = ("httpx default (httpcore)", "UpstreamTransport", "upstream_client()")
    print(
        "\n| CPU µs per request (min / median) | AsyncClient, httpx default "
        "| AsyncClient, UpstreamTransport | upstream_client() |"
    )
    print("| --- | ---: | ---: | ---: |")
    for case, by_client in figures.items():
        cells = (by_client[name] for name in names)
        row = " | ".join(f"{min(f):,.0f} / {statistics.median(f):,.0f}" for f in cells)
        print(f"| {case} | {row} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
