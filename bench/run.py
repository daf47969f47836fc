"""Benchmark: the fake upstream alone ("direct") vs llm-agg vs the LiteLLM proxy, in one run.

Steps, each repeated and interleaved across the servers (the order rotates every repetition):
non-streaming chat at 1 connection (added latency), at N connections (queueing latency and
throughput at saturation), and streams at low concurrency (time to first byte; the servers take
turns of a second within the step). Then RSS after load. Same worker count for both gateways.
Loopback only; every step is bounded in time.

    .venv/bin/python bench/run.py [--workers 2] [--duration 10] [--reps 3] [--skip-litellm]

Prints a markdown table and writes it, with the raw figures, to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from load import Figures, chat_body, run_streams, run_wrk
from report import goals, table
from servers import (
    BENCH,
    LITELLM_SPEC,
    ROOT,
    Memory,
    Server,
    ensure_litellm,
    ensure_wrk,
    fake_upstream,
    free_port,
    gateway,
    litellm,
    memory,
)
from ttfb import measure

EXPECTED = "Hello! How can I help you?"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def smoke(server: Server, chunks: int) -> None:
    """Refuse to measure a server that does not answer correctly."""
    headers = {"content-type": "application/json"}
    if server.api_key:
        headers["authorization"] = f"Bearer {server.api_key}"
    answer = httpx.post(server.url, content=chat_body(server.model), headers=headers, timeout=30)
    try:
        content = answer.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        content = None
    if answer.status_code != 200 or content != EXPECTED:
        raise RuntimeError(f"{server.name} answered {answer.status_code}: {answer.text[:300]}")
    stats = asyncio.run(measure(server.url, server.model, server.api_key, 30, 1, max_streams=1))
    if stats.errors or not stats.events or stats.events[0] < chunks:
        raise RuntimeError(f"{server.name} streamed badly: {stats.first_error or stats.events}")


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else "?"
    )


def _extra_rows(server: Server, mem: Memory, errors: int) -> dict[str, str]:
    return {
        "RSS after load, workers (MB)": f"{mem.rss_workers_mb:.0f} ({mem.workers} proc.)",
        "RSS after load, all processes (MB)": f"{mem.rss_all_mb:.0f} ({mem.processes} proc.)",
        "PSS after load, all processes (MB)": f"{mem.pss_all_mb:.0f}",
        "first answer after start (s)": f"{server.ready_after_s:.1f}",
        "errors (all steps)": str(errors),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2, help="worker processes for both gateways")
    p.add_argument("--duration", type=int, default=10, help="seconds per step")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every step")
    p.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring")
    p.add_argument("--connections", type=int, default=32, help="connections of the loaded step")
    p.add_argument("--stream-concurrency", type=int, default=4)
    p.add_argument(
        "--stream-turn",
        type=float,
        default=1.0,
        help="seconds each server streams before the next takes its turn, within a step",
    )
    p.add_argument("--chunks", type=int, default=20, help="content chunks per fake stream")
    p.add_argument("--chunk-delay-ms", type=float, default=5.0, help="delay between chunks")
    p.add_argument("--skip-litellm", action="store_true")
    p.add_argument("--litellm-spec", default=LITELLM_SPEC, help="pip requirement for LiteLLM")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    if not (1 <= args.workers <= 16 and 1 <= args.duration <= 120 and 1 <= args.reps <= 20):
        p.error("keep it bounded: 1-16 workers, 1-120 s per step, 1-20 repetitions")
    if not 1 <= args.warmup <= 60:
        p.error("warm-up must be 1-60 s")
    if not 1 <= args.connections <= 1024 or not 1 <= args.stream_concurrency <= 64:
        p.error("connections must be 1-1024 and stream concurrency 1-64")
    if not 0.2 <= args.stream_turn <= args.duration:
        p.error("a stream turn must be 0.2 s to a step's duration")
    return args


@dataclass
class Run:
    """Everything measured: samples[step][server][metric], one value per repetition."""

    samples: dict[str, dict[str, dict[str, list[float]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    )
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notes: list[str] = field(default_factory=list)
    memory: dict[str, Memory] = field(default_factory=dict)

    def add(self, rep: int, step: str, server: str, figures: Figures) -> None:
        for metric, value in figures.values.items():
            self.samples[step][server][metric].append(value)
        self.errors[server] += figures.errors
        if figures.note:
            self.notes.append(f"rep {rep + 1}, {step}, {server}: {figures.note}")


def measure_all(args: argparse.Namespace, wrk: str, servers: list[Server]) -> Run:
    run = Run()
    for server in servers:
        say(f"starting {server.name}: {shlex.join(server.argv)}")
        server.start()
        server.wait_ready(timeout=180 if server.name == "LiteLLM" else 60)
        smoke(server, args.chunks)
        say(f"  first answer after {server.ready_after_s:.1f} s, answers correctly")
    for server in servers:
        say(f"warming up {server.name} ({args.warmup:g} s)")
        run_wrk(wrk, server, args.connections, args.warmup)
        run_streams([server], min(args.warmup, 2.0), args.stream_concurrency)
    for rep in range(args.reps):
        # Rotate who goes first, so no server always follows the same neighbour.
        order = servers[rep % len(servers) :] + servers[: rep % len(servers)]
        for step in ("c1", f"c{args.connections}", "stream"):
            if step == "stream":
                streams = run_streams(
                    order, args.duration, args.stream_concurrency, args.stream_turn
                )
                measured = list(zip(order, streams, strict=True))
            else:
                connections = 1 if step == "c1" else args.connections
                measured = [(s, run_wrk(wrk, s, connections, args.duration)) for s in order]
            for server, figures in measured:
                run.add(rep, step, server.name, figures)
                say(
                    f"rep {rep + 1}/{args.reps} {step:>6} {server.name:>8}: "
                    + ", ".join(f"{k}={v:.3g}" for k, v in figures.values.items())
                )
    run.memory = {s.name: memory(s.tree()) for s in servers}
    return run


def render(
    args: argparse.Namespace,
    argv: list[str],
    servers: list[Server],
    run: Run,
    facts: dict[str, str],
) -> str:
    high = f"c{args.connections}"
    names = [s.name for s in servers]
    header = [
        f"# llm-agg benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{shlex.join(['bench/run.py', *argv])}`",
        f"- {args.workers} workers for each gateway; {args.reps} repetitions of "
        f"{args.duration:g} s per step, interleaved; {args.connections} connections in the "
        f"loaded step; streams {args.stream_concurrency} at a time, {args.chunks} chunks "
        f"{args.chunk_delay_ms:g} ms apart, the servers taking turns of {args.stream_turn:g} s",
        f"- llm-agg {facts['commit']}; LiteLLM {facts['litellm']}; {facts['wrk']}",
        f"- {os.cpu_count()} CPUs; load average {facts['load_before']} before, "
        f"{facts['load_after']} after; {facts['minutes']} min of measuring",
        "- figures: median of the repetitions [min, max]; *added* = the server's figure minus "
        "direct's in the same repetition",
        "",
        "",
    ]
    extra = {s.name: _extra_rows(s, run.memory[s.name], run.errors[s.name]) for s in servers}
    text = "\n".join(header) + table(run.samples, names, high, extra) + "\n"
    ours = run.memory.get("llm-agg")
    per_worker = ours.rss_workers_mb / ours.workers if ours and ours.workers else math.nan
    goal_lines = goals(run.samples, names, high, per_worker)
    if goal_lines:
        text += "\nGoals of issue 17 (indicative unless the machine was otherwise idle):\n\n"
        text += "\n".join(goal_lines) + "\n"
    if run.notes:
        text += "\nErrors seen:\n\n" + "\n".join(f"- {n}" for n in run.notes[:20]) + "\n"
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    logs = args.out / f"{stamp}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    litellm_version = (
        "skipped" if args.skip_litellm else ensure_litellm(args.litellm_spec, logs / "pip.log")
    )
    fake_port, gw_port, ll_port = free_port(), free_port(), free_port()
    servers = [
        fake_upstream(fake_port, args.chunks, args.chunk_delay_ms, logs),
        gateway(gw_port, fake_port, args.workers, logs),
    ]
    if not args.skip_litellm:
        servers.append(litellm(ll_port, fake_port, args.workers, logs))
    steps = 3 * len(servers) * args.duration * args.reps + args.warmup * len(servers)
    say(f"about {steps / 60:.1f} min of load, plus start-up ({args.reps} repetitions)")
    load_before, started = os.getloadavg()[0], time.monotonic()
    try:
        run = measure_all(args, wrk, servers)
    finally:
        for server in reversed(servers):
            server.stop()
    facts = {
        "commit": _version(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        "litellm": litellm_version,
        "wrk": " ".join(_version([wrk, "-v"]).split()[:2]),
        "load_before": f"{load_before:.2f}",
        "load_after": f"{os.getloadavg()[0]:.2f}",
        "minutes": f"{(time.monotonic() - started) / 60:.1f}",
    }
    text = render(args, argv, servers, run, facts)
    print(text)
    (args.out / f"{stamp}.md").write_text(text)
    raw: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "facts": facts,
        "samples": run.samples,
        "memory": {k: asdict(v) for k, v in run.memory.items()},
        "errors": run.errors,
        "notes": run.notes,
    }
    (args.out / f"{stamp}.json").write_text(json.dumps(raw, indent=1))
    say(f"written: {args.out / (stamp + '.md')} (raw figures and server logs beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
