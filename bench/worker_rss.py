"""RSS of ``llm-agg serve``'s workers after a chat load, optionally next to another checkout.

    .venv/bin/python bench/worker_rss.py [--workers 2] [--rounds 3] [--baseline /tmp/app-before]

Starts the fake upstream (``fake_upstream.py``) and ``llm-agg serve --workers N`` in front of
it, as ``bench/run.py`` does, sends ``--requests`` chat completions (a quarter of them streamed)
over ``--connections`` kept-alive connections, then reads each worker's ``VmRSS`` (the leaves
of the process tree, as run.py's "RSS after load, workers"). With ``--baseline DIR`` the same
is done for the checkout in DIR (its ``layers/common``, ``local`` and ``functions/*`` put first
on ``PYTHONPATH``, so this virtualenv serves that tree's code), alternating with this one each
round, so drift in the machine's load hits both alike. Memory, unlike latency, hardly moves
with the load of the machine; the median per worker over the rounds is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from servers import ROOT, fake_upstream, free_port, gateway, process_tree

ASK = {"model": "groq/llama-3.3-70b-versatile", "messages": [{"role": "user", "content": "Hi"}]}


def worker_rss_mb(root_pid: int) -> list[float]:
    """VmRSS of each leaf process of the tree (uvicorn's workers; the server itself if none)."""
    tree = process_tree(root_pid)
    parents = set()
    for pid in tree:
        try:
            parents.add(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))
        except OSError:
            continue
    found = []
    for pid in tree:
        if pid in parents:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" in cmd:
            continue
        kb = next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
        found.append(kb / 1024)
    return sorted(found)


async def load(url: str, requests: int, connections: int) -> int:
    """Chat completions, every fourth streamed; the number that did not answer 200 (or whose
    connection broke: a rare reset under load, seen on main as well)."""
    failed = 0
    queue = list(range(requests))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one_connection() -> None:
            nonlocal failed
            while queue:
                n = queue.pop()
                body = {**ASK, "stream": n % 4 == 0}
                try:
                    async with client.stream("POST", url, json=body) as response:
                        await response.aread()
                        failed += response.status_code != 200
                except httpx.TransportError:
                    failed += 1

        await asyncio.gather(*(one_connection() for _ in range(connections)))
    return failed


def tree_env(tree: Path) -> str:
    """``PYTHONPATH`` that makes this virtualenv run the code of the checkout ``tree``."""
    folders = [tree / "layers/common", tree / "local", *sorted(tree.glob("functions/*/"))]
    return ":".join(str(f) for f in folders)


def measure(tree: Path, args: argparse.Namespace, logs: Path) -> list[float]:
    upstream = fake_upstream(free_port(), chunks=20, chunk_delay_ms=0, logs=logs)
    server = gateway(free_port(), int(upstream.origin.rsplit(":", 1)[1]), args.workers, logs)
    server.env["PYTHONPATH"] = tree_env(tree)
    try:
        upstream.start()
        upstream.wait_ready(30)
        server.start()
        server.wait_ready(60)
        failed = asyncio.run(load(server.url, args.requests, args.connections))
        if failed > args.requests // 100:
            raise RuntimeError(f"{failed} requests failed; see {server.log}")
        if failed:
            print(f"warning: {failed} of {args.requests} requests failed", flush=True)
        assert server.proc is not None
        return worker_rss_mb(server.proc.pid)
    finally:
        server.stop()
        upstream.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alternately")
    args = parser.parse_args(argv)

    trees = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    samples: dict[str, list[list[float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="worker-rss-") as tmp:
        for round_ in range(args.rounds):
            for name, tree in trees.items():
                rss = measure(tree, args, Path(tmp) / f"{name}-{round_}")
                samples[name].append(rss)
                print(f"round {round_ + 1} {name:<9} workers' RSS (MB): {rss}", flush=True)
    for name, runs in samples.items():
        per_worker = [statistics.median(run[i] for run in runs) for i in range(len(runs[0]))]
        shown = ", ".join(f"{mb:.1f}" for mb in per_worker)
        print(f"{name:<9} median RSS per worker after load: {shown} MB ({trees[name]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
