"""A stream's CPU to its first byte through the whole chat endpoint in process, with the real
upstream client on a loopback socket: this worktree's code against another commit's, rounds
interleaved in one run.

The app is the one ``llm-agg serve`` runs (``create_app`` behind its Host guard, as
``bench/endpoints.py`` drives it, on uvloop as uvicorn serves it), but its upstream client is
the runtime's own (``UpstreamClient`` on ``UpstreamTransport``) talking to
``bench/fake_upstream.py`` on 127.0.0.1: so the adapter's request, the transport's write and
its parse of the answer's head, the relay's first frames and the ``EventStream`` all run as
served; only uvicorn is not there. The fake paces its stream (``--chunk-delay-ms``), so the
first read holds the head and the first two events, as a provider's does.

Per request, three figures of ``time.process_time()``: from the ASGI call to the first body
byte handed to ``send`` (the whole request), from ``Dispatcher._open``'s entry to it (the
upstream part: adapter, client, transport, relay), and from the call to the stream's end (the
CPU a streamed request costs in all, its upstream's reads and the closes after it included).
Each tree runs in its own worker process (the other commit exported with ``git archive``, first
on ``PYTHONPATH``), kept warm; each round asks each worker in turn (the order alternating) for
the median of ``--requests`` streams; the table gives the minimum and the median of the rounds.

    .venv/bin/python bench/relay_first_byte.py --before main --rounds 9 --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ab import export
from servers import CHAT_PATH, fake_upstream, free_port

MODEL = "groq/llama-3.3-70b-versatile"


async def _serve_rounds(upstream: str, gap: float) -> None:
    """The worker: one line on stdin per round (its request count), one JSON line back."""
    from endpoints import call, lifespan, served_app

    from llm_agg import dispatch

    opened: list[float] = []
    original = dispatch.Dispatcher._open

    async def timed_open(self: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(time.process_time())
        return await original(self, *args, **kwargs)

    dispatch.Dispatcher._open = timed_open  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp:
        app, _ = served_app(Path(tmp), upstream)
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": True}
        raw = json.dumps(body).encode()
        loop = asyncio.get_running_loop()
        async with lifespan(app):
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                whole, upstream_part, streams = [], [], []
                for _ in range(int(line)):
                    if gap:
                        time.sleep(gap)  # the worker idle, as between a stream's chunks: cold
                    opened.clear()
                    started = time.process_time()
                    first, status = await call(app, CHAT_PATH, raw)
                    if status != 200 or len(opened) != 1:
                        raise RuntimeError(f"HTTP {status}, {len(opened)} attempts")
                    await _drain()
                    streams.append(time.process_time() - started)
                    whole.append(first)
                    upstream_part.append(started + first - opened[0])
                figures = [statistics.median(f) * 1e6 for f in (whole, upstream_part, streams)]
                print(json.dumps(figures), flush=True)


async def _drain() -> None:
    # ``call`` returns when the stream has been relayed whole; let the connection's release
    # and the store's counting (done in tasks) finish before the next request is timed.
    for _ in range(3):
        await asyncio.sleep(0)


def _worker(tree: Path | None, upstream: str, gap_ms: float) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = f"{tree / 'layers' / 'common'}{os.pathsep}{tree / 'local'}"
    bench = str(Path(__file__).resolve())
    return subprocess.Popen(
        [sys.executable, bench, "--worker", upstream, "--gap-ms", str(gap_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parent,
    )


def _ask(worker: subprocess.Popen[str], requests: int) -> list[float]:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(f"{requests}\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    if not line:
        raise RuntimeError("a bench worker died: see its error above")
    figures: list[float] = json.loads(line)
    return figures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", help="the commit to compare this worktree with (none: this only)")
    p.add_argument("--after", help="a commit to run in place of this worktree (exported)")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--requests", type=int, default=300, help="streams per round and tree")
    p.add_argument("--chunks", type=int, default=3, help="content chunks per upstream stream")
    p.add_argument("--chunk-delay-ms", type=float, default=1.0)
    p.add_argument(
        "--gap-ms", type=float, default=0.0, help="idle before each stream (5: a cold vCPU)"
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        import uvloop

        uvloop.run(_serve_rounds(args.worker, args.gap_ms / 1000))
        return 0
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        upstream = fake_upstream(port, args.chunks, args.chunk_delay_ms, work / "logs")
        upstream.start()
        # --after: that commit exported too, so both trees are imported the same way (from a
        # `git archive` first on PYTHONPATH): this worktree's own process runs a little
        # faster than an exported tree's, even with the same code (~5%).
        trees: dict[str, Path | None] = {
            "after": export(args.after, work / "after") if args.after else None
        }
        if args.before:
            trees = {"before": export(args.before, work / "before"), **trees}
        workers: dict[str, subprocess.Popen[str]] = {}
        figures: dict[str, list[list[float]]] = {name: [] for name in trees}
        try:
            upstream.wait_ready(30)
            base = f"http://127.0.0.1:{port}/v1"
            workers = {name: _worker(tree, base, args.gap_ms) for name, tree in trees.items()}
            for worker in workers.values():
                _ask(worker, max(50, args.requests // 4))  # warm-up, not kept
            order = list(workers)
            for rnd in range(args.rounds):
                for name in order if rnd % 2 == 0 else order[::-1]:
                    figures[name].append(_ask(workers[name], args.requests))
        finally:
            for worker in workers.values():
                if worker.stdin is not None:
                    worker.stdin.close()
                worker.wait(30)
            upstream.stop()
    argv = " ".join(sys.argv[1:])
    print(f"$ .venv/bin/python bench/relay_first_byte.py {argv}".rstrip())
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| CPU µs of a streamed request (median of a round) | min | median |")
    print("| --- | ---: | ---: |")
    labels = ("whole request", "from Dispatcher._open", "the whole stream, to its end")
    for column, label in enumerate(labels):
        for name, rounds in figures.items():
            values = [r[column] for r in rounds]
            low, mid = min(values), statistics.median(values)
            print(f"| {label}, {name} | {low:,.1f} | {mid:,.1f} |")
        if len(figures) == 2:
            # Each round's two figures were taken side by side: their ratio moves less with
            # what else the machine runs than either figure does.
            pairs = zip(figures["after"], figures["before"], strict=True)
            ratios = [after[column] / before[column] for after, before in pairs]
            low, mid = min(ratios), statistics.median(ratios)
            print(f"| {label}, after / before in each round | {low:.2f} | {mid:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
