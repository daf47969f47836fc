"""How connections a client opens together spread over the gateway's workers.

``bench/run.py``'s stream step opens its connections together (one httpx client, four lanes)
and keeps them for the whole step, so which worker holds each decides how many of the lock-step
streams one worker serves in turn. This starts ``llm-agg serve --workers W`` (this tree, or
another commit's with ``--before``, as ``ab.py`` serves it) and, ``--tries`` times, opens
``--connections`` connections with one httpx client, streams once on each, and counts which
worker holds each connection (``ss -tnp``, so iproute2 must be installed).

    .venv/bin/python bench/spread.py --tries 16
    .venv/bin/python bench/spread.py --tries 16 --before 1f35632
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from ab import at, export
from servers import Server, fake_upstream, free_port, gateway, process_tree
from ttfb import StreamStats, Target, _client, _one, stream_body


def holders(port: int, workers: list[int]) -> list[int]:
    """How many of the established connections to ``port`` each worker holds, most first."""
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    held = Counter(pid for line in listing.splitlines() for pid in workers if f"pid={pid}," in line)
    return sorted((held[pid] for pid in workers), reverse=True)


async def one_try(server: Server, connections: int, workers: list[int]) -> list[int]:
    target = Target(server.url, server.model)
    client = _client(target, connections)
    stats = StreamStats()
    try:
        body = stream_body(target.model)
        await asyncio.gather(*(_one(client, target.url, body, stats) for _ in range(connections)))
        if stats.errors:
            raise RuntimeError(f"streams failed: {stats.first_error}")
        port = urlsplit(server.url).port
        assert port is not None
        return holders(port, workers)
    finally:
        await client.aclose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--tries", type=int, default=16)
    p.add_argument("--before", help="serve this commit's code instead of this tree's")
    args = p.parse_args()
    if not (2 <= args.workers <= 16 and 1 <= args.connections <= 64 and 1 <= args.tries <= 200):
        p.error("keep it bounded: 2-16 workers, 1-64 connections, 1-200 tries")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        up = free_port()
        upstream = fake_upstream(up, 20, 5.0, work / "logs")
        server = gateway(free_port(), up, args.workers, work / "logs-gateway")
        if args.before:
            server = at(server, export(args.before, work / "before"))
        try:
            for each in (upstream, server):
                each.start()
            for each in (upstream, server):
                each.wait_ready(60)
            assert server.proc is not None
            # uvicorn's workers, not multiprocessing's resource tracker beside them
            workers = [
                pid
                for pid in process_tree(server.proc.pid)
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]
            if len(workers) != args.workers:
                raise RuntimeError(f"found {len(workers)} workers, not {args.workers}")
            seen: Counter[tuple[int, ...]] = Counter()
            for _ in range(args.tries):
                seen[tuple(asyncio.run(one_try(server, args.connections, workers)))] += 1
        finally:
            for each in (server, upstream):
                each.stop()
    print(f"$ .venv/bin/python bench/spread.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    print(f"\n| {args.connections} connections over {args.workers} workers | tries |")
    print("| --- | ---: |")
    for split, count in seen.most_common():
        print(f"| {'-'.join(map(str, split))} | {count} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
