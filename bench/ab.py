"""Two versions of the gateway side by side: the server's CPU per request of this worktree's
code and of another commit's, interleaved in one run against one fake upstream.

The other commit is exported (``git archive``) to a temporary folder and served by the same
``llm-agg serve --workers N`` (1 unless ``--workers``) with its ``layers/common`` and ``local``
first on ``PYTHONPATH``; everything else (interpreter, dependencies, catalog) is shared. Each
round runs wrk at 1 and at ``--connections`` connections on each version in turn (the order
alternates every round) and reads the server's CPU from ``/proc``; the tables give the
minimum / median over rounds of the CPU per request and of the p99 latency (each wrk run opens
its connections at once, so at many connections the p99 includes the wait for them to be
taken). CPU per request moves far less than latency on a busy machine.
``--fresh`` opens a new connection for every request (``Connection: close``), to weigh what a
connection's opening costs. ``--streams N`` measures streams instead, N at a time as
``run.py``'s stream step does: each round the fake upstream alone and both versions stream
for a 1 s turn each (order alternating), on connections opened for the round, and the table
gives each version's added time to first byte (over the upstream's in the same round).

    .venv/bin/python bench/ab.py --before main --rounds 5 --duration 5
    .venv/bin/python bench/ab.py --before main --workers 2 --fresh --connections 8
    .venv/bin/python bench/ab.py --before main --workers 2 --streams 4 --rounds 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from load import run_wrk
from servers import ROOT, Server, ensure_wrk, fake_upstream, free_port, gateway
from ttfb import Target, measure_in_turns, percentile


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "layers/common", "local"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def at(server: Server, tree: Path) -> Server:
    path = f"{tree / 'layers' / 'common'}{os.pathsep}{tree / 'local'}"
    server.env = {**server.env, "PYTHONPATH": path}
    server.name = "before"
    return server


def stream_rounds(
    upstream: Server, servers: dict[str, Server], concurrency: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Per version, its added time to first byte p10 and p50 (ms) in each round but the first
    (a warm-up)."""
    added: dict[str, dict[str, list[float]]] = {n: {"p10": [], "p50": []} for n in servers}
    names = ["direct", *servers]
    every = [upstream, *servers.values()]
    for rnd in range(rounds + 1):
        order = list(range(len(every)))[:: 1 if rnd % 2 == 0 else -1]
        targets = [Target(every[i].url, every[i].model, every[i].api_key) for i in order]
        stats = asyncio.run(measure_in_turns(targets, len(targets), concurrency, 1.0))
        by_name = {names[i]: s for i, s in zip(order, stats, strict=True)}
        for name, got in by_name.items():
            if got.errors:
                raise RuntimeError(f"{name}: {got.errors} streams failed: {got.first_error}")
        if rnd == 0:
            continue
        for name in servers:
            for p in ("p10", "p50"):
                q = int(p[1:])
                ours, direct = by_name[name].ttfb_s, by_name["direct"].ttfb_s
                added[name][p].append((percentile(ours, q) - percentile(direct, q)) * 1000)
    return added


def print_run(load_before: tuple[float, float, float]) -> None:
    """The command and the machine's load before and after, above either table."""
    print(f"$ .venv/bin/python bench/ab.py {' '.join(sys.argv[1:])}".rstrip())
    for when, load in (("before", load_before), ("after", os.getloadavg())):
        print(f"load average (1, 5, 15 min) {when}: " + " ".join(f"{x:.2f}" for x in load))


def report_streams(
    args: argparse.Namespace,
    load_before: tuple[float, float, float],
    added: dict[str, dict[str, list[float]]],
) -> int:
    print_run(load_before)
    print(
        f"\n| stream: added time to first byte (ms), {args.streams} at a time, median [min, max] "
        f"of {args.rounds} rounds | {args.before} | this worktree |"
    )
    print("| --- | ---: | ---: |")
    for p in ("p50", "p10"):
        cells = [added[name][p] for name in ("before", "after")]
        row = " | ".join(f"{statistics.median(f):.2f} [{min(f):.2f}, {max(f):.2f}]" for f in cells)
        print(f"| {p} | {row} |")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="main", help="the commit to compare this worktree with")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk step")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--workers", type=int, default=1, help="worker processes of each version")
    p.add_argument("--fresh", action="store_true", help="a new connection for every request")
    p.add_argument("--streams", type=int, default=0, help="streams at a time, instead of wrk")
    args = p.parse_args()
    wrk = ensure_wrk()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = export(args.before, work / "before")
        up = free_port()
        upstream = fake_upstream(up, 20, 5.0, work / "logs")
        servers = {
            "before": at(gateway(free_port(), up, args.workers, work / "logs-before"), tree),
            "after": gateway(free_port(), up, args.workers, work / "logs-after"),
        }
        started = [upstream, *servers.values()]
        figures: dict[tuple[int, str, str], list[float]] = {}
        try:
            for server in started:
                server.start()
            for server in started:
                server.wait_ready(60)
            if args.streams:
                streamed = stream_rounds(upstream, servers, args.streams, args.rounds)
                return report_streams(args, load_before, streamed)
            for server in servers.values():
                run_wrk(wrk, server, args.connections, 2, args.fresh)  # warm-up
            for rnd in range(args.rounds):
                order = list(servers.items())
                for conns in (1, args.connections):
                    for name, server in order if rnd % 2 == 0 else order[::-1]:
                        got = run_wrk(wrk, server, conns, args.duration, args.fresh)
                        if got.errors:
                            raise RuntimeError(f"{name}: {got.note}")
                        for metric in ("cpu_us_per_req", "p99_ms"):
                            figures.setdefault((conns, name, metric), []).append(got.values[metric])
        finally:
            for server in reversed(started):
                server.stop()
    print_run(load_before)
    for metric, title in (
        ("cpu_us_per_req", "server CPU µs per request"),
        ("p99_ms", "p99 latency (ms), the connections' opening included"),
    ):
        print(f"\n| {title} (min / median) | {args.before} | this worktree |")
        print("| --- | ---: | ---: |")
        for conns in (1, args.connections):
            cells = [figures[(conns, name, metric)] for name in ("before", "after")]
            row = " | ".join(f"{min(f):,.1f} / {statistics.median(f):,.1f}" for f in cells)
            print(f"| {conns} connection{'s' if conns > 1 else ''} | {row} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
