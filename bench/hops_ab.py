"""``hops.py``'s probe on two trees at once: two gateways side by side, streamed requests sent
to each in turn, in blocks, the order alternating every round.

    .venv/bin/python bench/hops_ab.py /tmp/base [/tmp/after] [--rounds 10] [--block 40]

Each tree is a ``git archive`` of a commit (``git archive <commit> | tar -x -C DIR``; the
second defaults to this checkout): its packages go first on its worker's ``PYTHONPATH``, with
``hops.py``'s probe. Both workers share one fake upstream. Run one after the other, served
figures move by tens of µs between runs on a shared machine (another helper's tests, the
host); in blocks that alternate every few hundred milliseconds both trees meet the same load.
Only streamed requests, each after a whole stream: the cold path.

Printed: each tree's hop table (``hops.py``'s), then the spans of CPU that matter per request
(the median over requests of the difference, not the difference of the hops' medians), B - A.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
from pathlib import Path

from hops import HOPS, PACKAGES, PROBE, drive, lines, table
from servers import ROOT, Server, fake_upstream, free_port, gateway

Row = dict[str, list[float]]

# (from, to): hops of the streamed table whose CPU between them is read per request.
SPANS = [
    ("in", "first byte out"),
    ("in", "read_json_body >"),
    ("in", "parse_chat >"),
    ("in", "_open >"),
    ("parse_chat >", "_open >"),
    ("_open >", "first byte out"),
    ("_open >", "write >"),
    ("write <", "_open <"),
    ("_open <", "send <"),
    ("__call__ >", "first byte out"),
]


def served(tree: Path, probe: Path, out: Path, up_port: int, logs: Path) -> Server:
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE.format(out=str(out), hops=HOPS))
    server = gateway(free_port(), up_port, 1, logs)
    trees = [str(tree.resolve() / p) for p in PACKAGES]
    server.env["PYTHONPATH"] = os.pathsep.join([str(probe), *trees])
    return server


def span(rows: list[Row], start: str, end: str) -> float:
    """The median over requests of the CPU µs from ``start`` to ``end``."""
    if start == "in":
        return statistics.median(r[end][1] for r in rows if end in r)
    return statistics.median(r[end][1] - r[start][1] for r in rows if start in r and end in r)


def serve(
    trees: dict[str, Path], starts: list[str], rounds: int, block: int
) -> dict[str, list[Row]]:
    """The probe's rows of each tree's worker, started in the order ``starts``."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        up_port = free_port()
        upstream = fake_upstream(up_port, 20, 5.0, work / "logs")
        servers = {
            name: served(
                trees[name], work / f"probe{name}", work / f"hops{name}", up_port, work / name
            )
            for name in starts
        }
        try:
            upstream.start()
            for server in servers.values():
                server.start()
            upstream.wait_ready(30)
            for server in servers.values():
                server.wait_ready(60)
            ports = {name: int(s.origin.rsplit(":", 1)[1]) for name, s in servers.items()}
            for port in ports.values():
                asyncio.run(drive(port, 30, 0.0, True))  # warm-up, not kept
            for kept in work.glob("hops*.*"):
                kept.unlink()
            for rnd in range(rounds):
                for name in starts if rnd % 2 == 0 else starts[::-1]:
                    asyncio.run(drive(ports[name], block, 0.0, True))
            return {
                name: [json.loads(x) for f in work.glob(f"hops{name}.*") for x in lines(f)]
                for name in ports
            }
        finally:
            for server in servers.values():
                server.stop()
            upstream.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="tree A: a `git archive` of the commit to compare with")
    p.add_argument("b", nargs="?", default=str(ROOT), help="tree B (default: this checkout)")
    p.add_argument("--rounds", type=int, default=12, help="in all, half in each pass")
    p.add_argument("--block", type=int, default=40, help="streamed requests per tree a round")
    args = p.parse_args()
    if not 4 <= args.rounds <= 200 or not 5 <= args.block <= 1000:
        p.error("keep it bounded: 4-200 rounds of 5-1000 requests")
    trees = {"A": Path(args.a), "B": Path(args.b)}
    found: dict[str, list[Row]] = {"A": [], "B": []}
    # Two passes, fresh workers each, started A first then B first: a worker started second
    # reads up to ~20 µs more to the first byte with the very same code (seen with A = B).
    for first in ("A", "B"):
        starts = [first, *(n for n in trees if n != first)]
        for name, rows in serve(trees, starts, args.rounds // 2, args.block).items():
            found[name] += rows
    print(f"$ .venv/bin/python bench/hops_ab.py {args.a} {args.b} --rounds {args.rounds} ", end="")
    print(f"--block {args.block}\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, tree in trees.items():
        table(found[name], f"{name} ({tree}): streamed, each after a whole stream")
    print("\n| CPU µs (median per request) | A | B | B - A |\n| --- | ---: | ---: | ---: |")
    for start, end in SPANS:
        a, b = span(found["A"], start, end), span(found["B"], start, end)
        print(f"| {start} → {end} | {a:.0f} | {b:.0f} | {b - a:+.0f} |")


if __name__ == "__main__":
    main()
