"""What ``/v1/messages`` costs next to ``/v1/chat/completions``: the same gateway, the same
upstream (the bench's fake), the same question, asked both ways in turn.

Two steps per repetition, each on both endpoints (their order alternating): wrk at one
connection (latency per request, nothing queues) and streams at low concurrency (time to first
byte, and to the end). A Messages stream counts only if it ends with ``message_stop``, a chat
stream only with ``[DONE]``; anything else is an error, never a sample. The figure that
matters is the difference, in the same repetition (goal: within 0.2 ms).

    .venv/bin/python bench/messages.py --duration 10 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from servers import BENCH, cpu_seconds, ensure_wrk, fake_upstream, free_port, gateway
from ttfb import StreamStats, percentile

ASK = [{"role": "user", "content": "Say hello."}]
ENDPOINTS: dict[str, tuple[str, dict[str, Any], bytes]] = {
    # name: (path, body, how a complete stream ends)
    "chat": (
        "/v1/chat/completions",
        {"model": "groq/llama-3.3-70b-versatile", "messages": ASK, "max_tokens": 64},
        b"data: [DONE]",
    ),
    "messages": (
        "/v1/messages",
        {"model": "groq/llama-3.3-70b-versatile", "messages": ASK, "max_tokens": 64},
        b'data: {"type":"message_stop"}',
    ),
}


def wrk_p50_ms(
    wrk: str, url: str, body: dict[str, Any], duration: int, pids: list[int]
) -> tuple[float, float, int]:
    """(p50 ms, server CPU µs per request, errors): the CPU figure moves least when the
    machine is busy."""
    env = {**os.environ, "BENCH_BODY": json.dumps(body), "BENCH_KEY": ""}
    argv = [wrk, "-t1", "-c1", f"-d{duration}s", "--timeout", "10s"]
    argv += ["-s", str(BENCH / "chat.lua"), url]
    cpu = cpu_seconds(pids)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60)
    cpu = cpu_seconds(pids) - cpu
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    out = json.loads(line.removeprefix("BENCH_JSON "))
    per_request = cpu / out["requests"] * 1e6 if out["requests"] else float("nan")
    return out["latency_us"]["p50"] / 1000, per_request, sum(out["errors"].values())


async def streams(url: str, body: dict[str, Any], end: bytes, duration: float) -> StreamStats:
    stats = StreamStats()
    payload = json.dumps({**body, "stream": True}).encode()
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:

        async def lane() -> None:
            while time.perf_counter() < deadline:
                started, first, data = time.perf_counter(), None, bytearray()
                headers = {"content-type": "application/json"}
                async with client.stream("POST", url, content=payload, headers=headers) as r:
                    async for piece in r.aiter_raw():
                        first = first or time.perf_counter()
                        data += piece
                if r.status_code != 200 or not bytes(data).rstrip().endswith(end):
                    stats.fail(f"HTTP {r.status_code}: {bytes(data)[-200:]!r}")
                elif first is not None:
                    stats.ttfb_s.append(first - started)
                    stats.total_s.append(time.perf_counter() - started)

        await asyncio.gather(*(lane() for _ in range(4)))
    return stats


def claude_code_request() -> dict[str, Any]:
    """A request of Claude Code's shape and size: a long system prompt in blocks, many tools,
    a conversation with tool use and results."""
    schema = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "description": "x" * 80} for i in range(6)},
        "required": ["p0"],
    }
    tools = [
        {"name": f"tool_{i}", "description": "d" * 400, "input_schema": schema} for i in range(16)
    ]
    turns: list[dict[str, Any]] = []
    for i in range(8):
        use = {"type": "tool_use", "id": f"toolu_{i}", "name": "tool_1", "input": {"p0": "a.py"}}
        result = {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "line\n" * 200}
        turns += [
            {"role": "user", "content": [{"type": "text", "text": "Fix the bug " * 20}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Looking."}, use]},
            {"role": "user", "content": [result]},
        ]
    system = [
        {
            "type": "text",
            "text": "You are Claude Code. " * 600,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": system,
        "tools": tools,
        "messages": turns,
        "stream": True,
    }


def transform_cost(iterations: int = 300) -> dict[str, float]:
    """CPU µs the Messages bridge adds per request, in process (immune to a busy machine's
    scheduling): parsing and converting the request next to parsing the same chat body, and
    translating a 20-chunk stream."""
    from llm_agg.api.chat import parse_chat
    from llm_agg.api.messages import parse_messages
    from llm_agg.bridges.messages_in import chat_body, chat_call
    from llm_agg.bridges.messages_out import MessagesStream
    from llm_agg.providers.sse import SSEParser
    from llm_agg.routing.catalog import Catalog

    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"content": f"word{i} "}}]} for i in range(20)
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 20}})
    stream = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    stream += b"data: [DONE]\n\n"

    def timed(work: Any) -> float:
        started = time.process_time()
        for _ in range(iterations):
            work()
        return (time.process_time() - started) / iterations * 1e6

    def messages_in(raw: bytes) -> None:
        _, request = parse_messages(raw)
        chat_call(chat_body(request, Catalog()))

    def chat_of(raw: bytes) -> bytes:
        return json.dumps(chat_body(parse_messages(raw)[1], Catalog())).encode()

    small = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 64, "messages": ASK}).encode()
    large = json.dumps(claude_code_request()).encode()
    small_chat, large_chat = chat_of(small), chat_of(large)

    def translate() -> None:
        out, parser = MessagesStream("m", 1, False, []), SSEParser()
        for frame in stream.split(b"\n\n")[:-1]:
            for sse in parser.feed(frame + b"\n\n"):
                out.feed(sse)

    return {
        "small request, chat: parse (µs)": timed(lambda: parse_chat(small_chat)),
        "small request, messages: parse + convert (µs)": timed(lambda: messages_in(small)),
        f"Claude Code-sized request ({len(large):,} B), chat: parse (µs)": timed(
            lambda: parse_chat(large_chat)
        ),
        "Claude Code-sized request, messages: parse + convert (µs)": timed(
            lambda: messages_in(large)
        ),
        "messages: translate a 20-chunk stream (µs)": timed(translate),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per step")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--transforms-only", action="store_true", help="in-process costs only")
    args = parser.parse_args()
    for label, value in transform_cost().items():
        print(f"{label}: {value:,.1f}")
    if args.transforms_only:
        return 0
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = BENCH / "results" / f"messages-{stamp}-logs"
    upstream_port = free_port()
    upstream = fake_upstream(upstream_port, 20, 5.0, logs)
    server = gateway(free_port(), upstream_port, 1, logs)
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in ENDPOINTS}
    errors = 0
    try:
        for process in (upstream, server):
            process.start()
            process.wait_ready(60)
        for path, body, _ in ENDPOINTS.values():  # warm both paths
            wrk_p50_ms(wrk, server.origin + path, body, 2, server.tree())
        for rep in range(args.reps):
            order = list(ENDPOINTS) if rep % 2 == 0 else list(reversed(ENDPOINTS))
            for name in order:
                path, body, end = ENDPOINTS[name]
                p50, cpu, failed = wrk_p50_ms(
                    wrk, server.origin + path, body, args.duration, server.tree()
                )
                stats = asyncio.run(streams(server.origin + path, body, end, args.duration))
                errors += failed + stats.errors
                row = figures[name]
                row.setdefault("p50_ms", []).append(p50)
                row.setdefault("cpu_us", []).append(cpu)
                row.setdefault("ttfb_p50_ms", []).append(percentile(stats.ttfb_s, 50) * 1000)
                row.setdefault("total_p50_ms", []).append(percentile(stats.total_s, 50) * 1000)
                print(f"rep {rep + 1} {name}: {p50:.3f} ms, ttfb {row['ttfb_p50_ms'][-1]:.3f} ms")
    finally:
        server.stop()
        upstream.stop()
    print("\n| step | chat | messages | messages - chat |\n| --- | ---: | ---: | ---: |")
    for key, label in (
        ("p50_ms", "p50 latency, 1 connection (ms)"),
        ("cpu_us", "server CPU per request, 1 connection (µs)"),
        ("ttfb_p50_ms", "stream: time to first byte p50 (ms)"),
        ("total_p50_ms", "stream: whole stream p50 (ms)"),
    ):
        chat, messages = figures["chat"][key], figures["messages"][key]
        deltas = [m - c for m, c in zip(messages, chat, strict=True)]
        print(
            f"| {label} | {statistics.median(chat):.3f} | {statistics.median(messages):.3f} "
            f"| {statistics.median(deltas):+.3f} [{min(deltas):+.3f}, {max(deltas):+.3f}] |"
        )
    print(f"\nerrors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
