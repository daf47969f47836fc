"""Soak: a fixed request rate for a long time, watching the gateway's memory and descriptors.

Starts the fake upstream (bench/fake_upstream.py) and `llm-agg serve` on loopback, then sends
requests at a fixed rate (open loop: a request leaves on schedule whether or not earlier ones
have answered) for ``--duration`` seconds, mixing:

    chat      plain chat completion                         expect 200 and the fake's text
    stream    streamed completion                           expect every chunk and [DONE]
    tools     completion with tools                         expect 200 and the tool call
    tstream   streamed completion with tools                expect the tool call and [DONE]
    abort     stream that the client drops after 1 event    expect the first event
    500       upstream answers 500                          expect 502, OpenAI-shaped
    garbage   upstream answers 200 with a non-JSON body     expect 502, OpenAI-shaped
    break     upstream drops the stream after one chunk     expect an SSE error event, no [DONE]
    hang      upstream never answers                        expect 504 after its 2 s timeout

Normal traffic goes to the provider `groq`, faults to `cerebras` (both played by the fake), so
the cooldowns that faults cause never touch the normal traffic. Every ``--sample`` seconds it
reads the RSS and the open file descriptors of the gateway's processes from /proc.

A request is *lost* when it gets no answer (transport error, client timeout after 30 s) or an
answer that is not its expected one nor a clean OpenAI-shaped refusal (a 500, a body that is
not JSON, a stream that ends without [DONE] or an error event). Goals: RSS after warm-up grows
by less than 10%, descriptors stay flat, nothing is lost.

    .venv/bin/python bench/soak.py [--duration 600] [--rate 20] [--workers 2]

By hand only (never a test): bounded in time, loopback only; the servers it starts are stopped
at the end. The markdown report goes to stdout and bench/results/soak-<UTC time>.md (+ .json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from servers import (
    BENCH,
    CHAT_PATH,
    Server,
    base_env,
    fake_upstream,
    free_port,
    memory,
    process_tree,
)

NORMAL = "groq/llama-3.3-70b-versatile"
FAULT_TIMEOUT_S = 2  # the cerebras timeout in the soak's catalog: a hang ends as a 504 then
CLIENT_TIMEOUT_S = 30
FD_SLACK = 5  # descriptors the median of the last minute may exceed the first one's by
HELLO = "Hello! How can I help you?"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# Kind -> share of the traffic.
MIX = {
    "chat": 30,
    "stream": 25,
    "tools": 12,
    "tstream": 8,
    "abort": 5,
    "500": 5,
    "garbage": 5,
    "break": 5,
    "hang": 5,
}
FAULTS = {"500", "garbage", "break", "hang"}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def body(kind: str) -> dict[str, object]:
    model = f"cerebras/fault-{kind}" if kind in FAULTS else NORMAL
    out: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "max_tokens": 64,
    }
    if kind in ("stream", "tstream", "abort", "break"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if kind in ("tools", "tstream"):
        out["tools"] = [WEATHER]
    return out


@dataclass
class Outcome:
    kind: str
    verdict: str  # ok | refused | lost
    status: int | None
    seconds: float
    note: str = ""


def _is_error_body(data: bytes) -> bool:
    try:
        error = json.loads(data)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and isinstance(error.get("message"), str)


def _judge_whole(kind: str, answer: httpx.Response) -> tuple[str, str]:
    if answer.status_code == 200:
        try:
            message = answer.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            return "lost", "200 without a completion"
        if kind == "chat" and message.get("content") == HELLO:
            return "ok", ""
        if kind == "tools" and (message.get("tool_calls") or [{}])[0].get("id") == "call_bench_1":
            return "ok", ""
        return "lost", f"200 with an unexpected message: {str(message)[:120]}"
    if answer.status_code >= 500 and answer.status_code not in (502, 503, 504):
        return "lost", f"{answer.status_code}: {answer.text[:120]}"
    if not _is_error_body(answer.content):
        return "lost", f"{answer.status_code} without an OpenAI error: {answer.text[:120]}"
    expected = {"500": 502, "garbage": 502, "hang": 504}.get(kind)
    return ("ok" if answer.status_code == expected else "refused"), str(answer.status_code)


async def _judge_stream(kind: str, answer: httpx.Response) -> tuple[str, str]:
    if answer.status_code != 200:
        data = await answer.aread()
        if answer.status_code >= 500 and answer.status_code not in (502, 503, 504):
            return "lost", f"{answer.status_code}"
        return ("refused" if _is_error_body(data) else "lost"), str(answer.status_code)
    events: list[bytes] = []
    async for line in answer.aiter_lines():
        if line.startswith("data: "):
            events.append(line[6:].encode())
            if kind == "abort":
                return "ok", ""  # leaving the block closes the stream: the client went away
    if not events:
        return "lost", "an empty stream"
    last = events[-1]
    if kind == "break":
        return ("ok", "") if _is_error_body(last) else ("lost", f"ended with {last[:80]!r}")
    if last != b"[DONE]":
        return ("refused" if _is_error_body(last) else "lost"), f"ended with {last[:80]!r}"
    text = b"".join(events)
    if kind == "tstream" and b"call_bench_1" not in text:
        return "lost", "no tool call in the stream"
    if kind == "stream" and b"word0" not in text:
        return "lost", "no content in the stream"
    return "ok", ""


async def one(client: httpx.AsyncClient, url: str, kind: str) -> Outcome:
    started = time.monotonic()
    payload = body(kind)
    try:
        if payload.get("stream"):
            async with client.stream("POST", url, json=payload) as answer:
                verdict, note = await _judge_stream(kind, answer)
                status = answer.status_code
        else:
            whole = await client.post(url, json=payload)
            verdict, note = _judge_whole(kind, whole)
            status = whole.status_code
    except httpx.HTTPError as exc:
        return Outcome(kind, "lost", None, time.monotonic() - started, type(exc).__name__)
    return Outcome(kind, verdict, status, time.monotonic() - started, note)


@dataclass
class Sample:
    t: float
    rss_mb: float
    pss_mb: float
    fds: int
    processes: int
    sent: int
    done: int
    in_flight: int


def open_fds(pids: list[int]) -> int:
    count = 0
    for pid in pids:
        try:
            count += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return count


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    sent: int = 0
    skipped: int = 0  # not sent: too many in flight (the gateway fell behind)


async def drive(gw: Server, args: argparse.Namespace) -> Run:
    run = Run()
    rng = random.Random(args.seed)
    kinds, weights = list(MIX), list(MIX.values())
    limits = httpx.Limits(max_connections=args.max_in_flight, max_keepalive_connections=32)
    timeout = httpx.Timeout(CLIENT_TIMEOUT_S)
    in_flight: set[asyncio.Task[None]] = set()

    async def send(kind: str) -> None:
        run.outcomes.append(await one(client, gw.url, kind))

    def sample(started: float) -> None:
        pids = process_tree(gw.proc.pid) if gw.proc else []
        mem = memory(pids)
        run.samples.append(
            Sample(
                t=round(time.monotonic() - started, 1),
                rss_mb=round(mem.rss_all_mb, 1),
                pss_mb=round(mem.pss_all_mb, 1),
                fds=open_fds(pids),
                processes=mem.processes,
                sent=run.sent,
                done=len(run.outcomes),
                in_flight=len(in_flight),
            )
        )
        last = run.samples[-1]
        say(
            f"  t={last.t:6.0f}s  rss={last.rss_mb:7.1f} MB  fds={last.fds:4d}  "
            f"sent={last.sent}  done={last.done}  in flight={last.in_flight}"
        )

    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        started = time.monotonic()
        sample(started)
        next_sample = started + args.sample
        interval = 1 / args.rate
        total = int(args.duration * args.rate)
        for i in range(total):
            due = started + i * interval
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            if time.monotonic() >= next_sample:
                sample(started)
                next_sample += args.sample
            if len(in_flight) >= args.max_in_flight:
                run.skipped += 1
                continue
            task = asyncio.create_task(send(rng.choices(kinds, weights)[0]))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            run.sent += 1
        if in_flight:
            await asyncio.wait(in_flight, timeout=CLIENT_TIMEOUT_S + 5)
        await asyncio.sleep(1)  # let the gateway close what the last requests opened
        sample(started)
    return run


def soak_gateway(port: int, upstream_port: int, workers: int, logs: Path) -> Server:
    exe = Path(sys.executable).with_name("llm-agg")
    if not exe.exists():
        raise RuntimeError("llm-agg is not installed: run `make install` first")
    # No free-tier limits (the rate would otherwise be held to Groq's, rightly); cerebras, the
    # faults' provider, gives up on a hanging upstream after FAULT_TIMEOUT_S.
    catalog = logs / "soak-providers.yaml"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(
        "providers:\n"
        "  groq:\n    models:\n"
        "      - {id: llama-3.3-70b-versatile, capabilities: [tools, json]}\n"
        f"  cerebras:\n    timeout: {FAULT_TIMEOUT_S}\n    models:\n"
        "      - {id: llama-3.3-70b, capabilities: [tools, json]}\n"
    )
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    env = base_env(
        logs,
        GROQ_BASE_URL=upstream,
        GROQ_API_KEY="x-soak-groq",
        CEREBRAS_BASE_URL=upstream,
        CEREBRAS_API_KEY="x-soak-cerebras",
        LLM_AGG_DATA_DIR=str(logs / "llm-agg-data"),
        LLM_AGG_CONFIG=str(catalog),
    )
    return Server(
        name="llm-agg",
        url=f"http://127.0.0.1:{port}{CHAT_PATH}",
        model=NORMAL,
        ready_path="/health",
        argv=[str(exe), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        log=logs / "llm-agg.log",
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(run: Run, args: argparse.Namespace) -> dict[str, object]:
    after = [s for s in run.samples if s.t >= args.warmup]
    window = max(1, int(60 / args.sample))  # a minute of samples at each end
    first, last = after[:window], after[-window:]
    rss_start = _median([s.rss_mb for s in first])
    rss_end = _median([s.rss_mb for s in last])
    fds = [s.fds for s in after]
    verdicts = Counter(o.verdict for o in run.outcomes)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    seconds: dict[str, list[float]] = defaultdict(list)
    notes: Counter[str] = Counter()
    for o in run.outcomes:
        by_kind[o.kind][o.verdict] += 1
        seconds[o.kind].append(o.seconds)
        if o.verdict != "ok":
            notes[f"{o.kind}: {o.verdict} {o.status} {o.note}"[:160]] += 1
    unanswered = run.sent - len(run.outcomes)
    lost = verdicts["lost"] + unanswered
    growth = (rss_end - rss_start) / rss_start * 100 if rss_start else float("nan")
    fds_growth = _median([s.fds for s in last]) - _median([s.fds for s in first])
    return {
        "rss_after_warmup_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_growth_pct": round(growth, 1),
        "fds_after_warmup_min": min(fds) if fds else None,
        "fds_after_warmup_max": max(fds) if fds else None,
        "fds_growth": fds_growth,
        "fds_start": first[0].fds if first else None,
        "fds_end": last[-1].fds if last else None,
        "sent": run.sent,
        "skipped": run.skipped,
        "answered": len(run.outcomes),
        "ok": verdicts["ok"],
        "refused": verdicts["refused"],
        "lost": lost,
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "p50_s": {k: round(_median(v), 3) for k, v in sorted(seconds.items())},
        "notes": dict(notes.most_common(12)),
        "goals": {
            "rss growth < 10%": growth < 10,
            # Descriptors follow the connections in flight; a leak shows as a rising floor.
            "fds flat": bool(fds) and fds_growth <= FD_SLACK,
            "nothing lost": lost == 0 and run.skipped == 0,
        },
    }


def report(summary: dict[str, object], run: Run, args: argparse.Namespace, busy: str) -> str:
    goals = summary["goals"]
    assert isinstance(goals, dict)
    lines = [
        f"# Soak: {args.duration:.0f} s at {args.rate:g} req/s, `llm-agg serve --workers "
        f"{args.workers}`",
        "",
        f"Machine: {os.cpu_count()} cores; load average at start {busy}.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| requests sent / answered | {summary['sent']} / {summary['answered']} |",
        f"| as expected / clean refusals / lost | {summary['ok']} / {summary['refused']} / "
        f"{summary['lost']} |",
        f"| not sent (gateway behind, > {args.max_in_flight} in flight) | {summary['skipped']} |",
        f"| RSS after {args.warmup:.0f} s warm-up → end (whole tree) | "
        f"{summary['rss_after_warmup_mb']:.1f} → {summary['rss_end_mb']:.1f} MB "
        f"({summary['rss_growth_pct']:+.1f}%) |",
        f"| open fds after warm-up: min / max (start → end) | {summary['fds_after_warmup_min']} / "
        f"{summary['fds_after_warmup_max']} ({summary['fds_start']} → {summary['fds_end']}; "
        f"median of the last minute {summary['fds_growth']:+g} on the first) |",
        "",
        "Goals: " + ", ".join(f"{name}: {'yes' if met else 'NO'}" for name, met in goals.items()),
        "",
        "| kind | outcomes | p50 s |",
        "| --- | --- | --- |",
    ]
    by_kind = summary["by_kind"]
    p50 = summary["p50_s"]
    assert isinstance(by_kind, dict) and isinstance(p50, dict)
    for kind, counts in by_kind.items():
        lines.append(f"| {kind} | {counts} | {p50[kind]} |")
    lines += [
        "",
        "| t (s) | RSS MB | PSS MB | fds | sent | answered |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    step = max(1, int(60 / args.sample))
    shown = run.samples[::step] + ([run.samples[-1]] if len(run.samples) % step != 1 else [])
    for s in shown:
        lines.append(f"| {s.t:.0f} | {s.rss_mb} | {s.pss_mb} | {s.fds} | {s.sent} | {s.done} |")
    notes = summary["notes"]
    if notes:
        lines += ["", "Not as expected (most frequent):", ""]
        assert isinstance(notes, dict)
        lines += [f"- {count} x {note}" for note, count in notes.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (30-3600)")
    parser.add_argument("--rate", type=float, default=20, help="requests per second (1-200)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=60, help="seconds before RSS counts")
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples")
    parser.add_argument("--max-in-flight", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-delay-ms", type=float, default=5)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if not 30 <= args.duration <= 3600 or not 1 <= args.rate <= 200:
        parser.error("--duration is 30-3600 s and --rate 1-200 req/s")
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = args.out / f"soak-{stamp}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    upstream_port, gateway_port = free_port(), free_port()
    fake = fake_upstream(upstream_port, args.chunks, args.chunk_delay_ms, logs)
    gw = soak_gateway(gateway_port, upstream_port, args.workers, logs)
    busy = " ".join(f"{x:.1f}" for x in os.getloadavg())
    try:
        for server in (fake, gw):
            server.start()
            server.wait_ready(60)
        say(f"soak: {args.duration:.0f}s at {args.rate:g} req/s against {gw.origin}")
        run = asyncio.run(drive(gw, args))
    finally:
        gw.stop()
        fake.stop()
    summary = summarize(run, args)
    text = report(summary, run, args, busy)
    print(text)
    (args.out / f"soak-{stamp}.md").write_text(text)
    raw = {"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary}
    raw["samples"] = [asdict(s) for s in run.samples]
    (args.out / f"soak-{stamp}.json").write_text(json.dumps(raw, indent=2))
    goals = summary["goals"]
    assert isinstance(goals, dict)
    sys.exit(0 if all(goals.values()) else 1)


if __name__ == "__main__":
    main()
