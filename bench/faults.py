"""Failover under faults, next to the same load without them: what a provider outage costs.

Three providers, each played by a fast fake upstream on loopback (``fake_upstream.py``), behind
one ``llm-agg serve``, under the usage guide's high_availability chain (groq, cerebras,
openrouter):

- clean run: all three healthy;
- fault run: groq answers 503 to ``--fail-rate`` of its calls, cerebras is unreachable (a
  closed port: connection refused), openrouter is healthy.

Each run (a fresh gateway: circuits start closed) sends ``--requests`` chat completions,
``--concurrency`` at a time (half of them streams), and reports the success rate, p50/p99
latency (the added figures are the fault run's minus the clean run's, same machine, same run)
and attempts per request (``x-llm-agg-attempts``).
Run by hand, never as a test: ``.venv/bin/python bench/faults.py``. Bounded: every request has a
30 s timeout and every server started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from servers import BENCH, Server, base_env, free_port

CHAIN = """providers:
  groq:
    timeout: 5
    models: [{id: llama-3.3-70b-versatile, quality: 5}, {id: qwen3-32b, quality: 4}]
  cerebras:
    timeout: 5
    models: [{id: gpt-oss-120b, quality: 4}]
  openrouter:
    timeout: 5
    models: [{id: "deepseek-r1:free", quality: 4}]
routing_rules:
  - name: high_availability
    provider_preferences: [groq, cerebras, openrouter]
    fallback_chain: [groq, cerebras, openrouter]
"""


@dataclass
class Result:
    ok: bool
    ms: float
    attempts: int


def fake(port: int, fail_rate: float, logs: Path, name: str) -> Server:
    argv = [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(port)]
    argv += ["--fail-rate", str(fail_rate), "--chunks", "5"]
    return Server(name, f"http://127.0.0.1:{port}/v1/chat/completions", "m", "/health", argv,
                  base_env(logs), logs / f"{name}.log")  # fmt: skip


def gateway(port: int, urls: dict[str, str], logs: Path, tag: str) -> Server:
    catalog = logs / f"chain-{tag}.yaml"
    catalog.write_text(CHAIN)
    env = base_env(logs, LLM_AGG_CONFIG=str(catalog), LLM_AGG_DATA_DIR=str(logs / f"data-{tag}"))
    for name, url in urls.items():
        env[f"{name.upper()}_API_KEY"] = "x"
        env[f"{name.upper()}_BASE_URL"] = url
    exe = Path(sys.executable).with_name("llm-agg")
    argv = [str(exe), "serve", "--port", str(port), "--log-level", "error"]
    return Server(f"llm-agg-{tag}", f"http://127.0.0.1:{port}/v1/chat/completions", "auto",
                  "/health", argv, env, logs / f"llm-agg-{tag}.log")  # fmt: skip


async def one(client: httpx.AsyncClient, url: str, stream: bool) -> Result:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    started = time.perf_counter()
    try:
        async with client.stream("POST", url, json=body) as response:
            text = (await response.aread()).decode()
            ok = response.status_code == 200 and (not stream or "data: [DONE]" in text)
            attempts = int(response.headers.get("x-llm-agg-attempts", "0"))
    except httpx.HTTPError:
        ok, attempts = False, 0
    return Result(ok, (time.perf_counter() - started) * 1000, attempts)


async def load(url: str, requests: int, concurrency: int) -> list[Result]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def bounded(i: int) -> Result:
            async with gate:
                return await one(client, url, stream=i % 2 == 1)

        return list(await asyncio.gather(*(bounded(i) for i in range(requests))))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(results: list[Result]) -> dict[str, float]:
    ms = [r.ms for r in results if r.ok]
    return {
        "success": sum(r.ok for r in results) / len(results),
        "p50": percentile(ms, 0.5),
        "p99": percentile(ms, 0.99),
        "attempts": statistics.mean(r.attempts for r in results),
    }


def run(args: argparse.Namespace, logs: Path) -> dict[str, dict[str, float]]:
    healthy_port, failing_port = free_port(), free_port()
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    healthy = fake(healthy_port, 0.0, logs, "fake-healthy")
    failing = fake(failing_port, args.fail_rate, logs, "fake-failing")
    good = f"http://127.0.0.1:{healthy_port}/v1"
    setups = {
        "clean": {"groq": good, "cerebras": good, "openrouter": good},
        "faults": {"groq": f"http://127.0.0.1:{failing_port}/v1", "cerebras": closed,
                   "openrouter": good},
    }  # fmt: skip
    servers = [healthy, failing]
    samples: dict[str, list[dict[str, float]]] = {tag: [] for tag in setups}
    try:
        for server in servers:
            server.start()
            server.wait_ready(15)
        for rep in range(args.reps):
            # Interleaved, the order turning each repetition: the machine's load hits both.
            order = list(setups) if rep % 2 == 0 else list(reversed(setups))
            for tag in order:
                gw = gateway(free_port(), setups[tag], logs, f"{tag}-{rep}")
                servers.append(gw)
                gw.start()
                gw.wait_ready(30)
                asyncio.run(load(gw.url, 4, 4))  # connections only: circuits start closed
                results = asyncio.run(load(gw.url, args.requests, args.concurrency))
                samples[tag].append(summary(results))
                gw.stop()
    finally:
        for server in servers:
            server.stop()
    return {
        tag: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for tag, runs in samples.items()
    }


def table(figures: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    clean, faults = figures["clean"], figures["faults"]
    rows = [
        "| run | success | p50 ms | p99 ms | attempts per request |",
        "| --- | --- | --- | --- | --- |",
    ]
    for tag, f in figures.items():
        cells = [f"{f['success']:.1%}", f"{f['p50']:.1f}", f"{f['p99']:.1f}"]
        rows.append(f"| {tag} | {' | '.join(cells)} | {f['attempts']:.2f} |")
    rows.append(
        f"| added by faults | {faults['success'] - clean['success']:+.1%} | "
        f"{faults['p50'] - clean['p50']:+.1f} | {faults['p99'] - clean['p99']:+.1f} | "
        f"{faults['attempts'] - clean['attempts']:+.2f} |"
    )
    head = (
        f"Median of {args.reps} interleaved runs of {args.requests} requests (half streamed), "
        f"{args.concurrency} at a time, each on a fresh gateway; fault run: "
        f"groq 503 on {args.fail_rate:.0%} of calls, cerebras unreachable, openrouter healthy."
    )
    return head + "\n\n" + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fail-rate", type=float, default=0.5)
    parser.add_argument("--reps", type=int, default=3, help="runs of each, interleaved")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = BENCH / "results" / f"{stamp}-faults-logs"
    logs.mkdir(parents=True, exist_ok=True)
    figures = run(args, logs)
    text = table(figures, args)
    print(text)
    (BENCH / "results" / f"{stamp}-faults.md").write_text(text + "\n")
    (BENCH / "results" / f"{stamp}-faults.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
