"""Where llm-agg's CPU goes per request: one worker under wrk load, sampled by py-spy.

Starts the fake upstream and ``llm-agg serve --workers 1``, loads it with wrk at the given
connections, samples the worker with py-spy (installed into ``bench/.venv-tools`` when
missing) and prints, per function, the microseconds of CPU it costs per request: inclusive
(with what it calls) and self. The raw collapsed stacks are kept for a flame graph.

    .venv/bin/python bench/hotpath.py --connections 32 --duration 10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from load import LUA, chat_body, run_wrk
from servers import BENCH, cpu_seconds, ensure_wrk, fake_upstream, free_port, gateway

TOOLS = BENCH / ".venv-tools"
PY_SPY = "py-spy==0.4.3"
# Frames that only say "the event loop / the worker process is running".
_PLUMBING = re.compile(
    r"multiprocessing/|uvicorn/(supervisors|_subprocess|server|_compat)|<module>"
)


def ensure_py_spy() -> Path:
    exe = TOOLS / "bin" / "py-spy"
    if not exe.exists():
        print(f"installing {PY_SPY} into {TOOLS} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
        pip = [str(TOOLS / "bin" / "pip"), "install", "--quiet", PY_SPY]
        subprocess.run(pip, check=True)
    return exe


def per_request(raw: Path, rate: int, requests: float) -> tuple[dict[str, float], dict[str, float]]:
    """Inclusive and self microseconds per request, by function (line numbers folded)."""
    inclusive: dict[str, float] = defaultdict(float)
    own: dict[str, float] = defaultdict(float)
    scale = 1e6 / rate / requests
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        us = int(count) * scale
        own[frames[-1]] += us
        for frame in set(frames):
            inclusive[frame] += us
    return inclusive, own


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=int, default=10, help="seconds sampled (1-60)")
    p.add_argument("--rate", type=int, default=250, help="samples per second")
    p.add_argument("--top", type=int, default=45)
    args = p.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.connections <= 256:
        p.error("keep it bounded: 1-60 s, 1-256 connections")
    wrk, spy = ensure_wrk(), ensure_py_spy()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    logs = BENCH / "results" / f"{stamp}-profile"
    logs.mkdir(parents=True, exist_ok=True)
    fake_port, gw_port = free_port(), free_port()
    fake = fake_upstream(fake_port, 20, 0, logs)
    ours = gateway(gw_port, fake_port, 1, logs)
    raw = logs / f"llm-agg-c{args.connections}.collapsed"
    try:
        for server in (fake, ours):
            server.start()
            server.wait_ready(60)
        run_wrk(wrk, ours, args.connections, 2)  # warm-up
        assert ours.proc is not None
        env = {**os.environ, "BENCH_BODY": chat_body(ours.model), "BENCH_KEY": ""}
        argv = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration + 3}s"]
        argv += ["-s", str(LUA), ours.url]
        load = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        pid = ours.proc.pid  # one worker: uvicorn serves in the process it was started as
        cpu_before, started = cpu_seconds([pid]), time.monotonic()
        record = [str(spy), "record", "-p", str(pid), "-d", str(args.duration)]
        record += ["-r", str(args.rate), "-f", "raw", "-o", str(raw), "--nonblocking"]
        subprocess.run(record, check=True, capture_output=True)
        cpu, elapsed = cpu_seconds([pid]) - cpu_before, time.monotonic() - started
        out, _ = load.communicate(timeout=30)
    finally:
        ours.stop()
        fake.stop()
    summary = json.loads(next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))[11:])
    rps = summary["requests"] / (summary["duration_us"] / 1e6)
    inclusive, own = per_request(raw, args.rate, rps * args.duration)
    print(
        f"# llm-agg, 1 worker, {args.connections} connections: {rps:.0f} req/s, "
        f"{cpu / (rps * elapsed) * 1e6:.0f} µs of CPU per request (from /proc), of which "
        f"{sum(own.values()):.0f} µs sampled by py-spy (it misses time in the kernel and "
        "when the machine is busy): compare the rows with each other\n"
    )
    print(f"{'incl µs':>8} {'self µs':>8}  function")
    for frame, us in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if _PLUMBING.search(frame):
            continue
        print(f"{us:8.0f} {own[frame]:8.0f}  {frame}")
        args.top -= 1
        if args.top <= 0:
            break
    print(f"\nraw stacks: {raw} (flamegraph.pl or speedscope read them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
