"""``/v1/messages`` and ``/v1/responses`` next to ``/v1/chat/completions``, whole requests
through the gateway's ASGI app, in process: what each endpoint adds, as CPU time.

The app is the one ``llm-agg serve`` runs (``llm_agg_local.server.create_app`` behind its
Host guard, as ``create_served_app`` builds it), with Groq answered in place of the upstream
transport (the same prebuilt answer or 20-chunk stream for every endpoint), driven by a bare
ASGI caller in one event loop: no sockets, no client library, no other process, so on a shared
machine it moves far less than a wall-clock figure. Each round times each case in
turn (interleaved); the table gives the minimum and the median over rounds of the CPU per
request: for a stream, up to the first body byte (what the endpoint adds to the time to first
byte) and to the end.

    .venv/bin/python bench/endpoints.py --rounds 7 --requests 200

``--size large`` asks with a coding agent's request instead of one line (Claude Code's shape
on Messages, Codex's on Responses, and on chat the chat body each of them becomes).

``--limits`` serves what the shipped catalog serves: the model has its free tier's kinds of
limit (requests and tokens per minute and per day, set too high to be reached, so nothing is
refused) and the requests carry a gateway key with a requests-per-minute and a tokens-per-day
limit. Every request then counts in the store (the SQLite file): the provider's request
window at admission, the key's minute and its day's tokens held; without it the bench's catalog
has no limits and none of that work is measured. ``--limits --counters-in-threads`` does that
work in threads, as before ``llm_agg.store.nowait`` (for a before/after: alternate the two).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from transforms import ASK, chat_stream, claude_code_request, codex_request

from llm_agg.http_transport import UpstreamTransport
from llm_agg.settings import Settings
from llm_agg_local.hosts import HostGuard, HostPolicy
from llm_agg_local.server import create_app

UPSTREAM = "http://upstream.bench/v1"
MODEL = "groq/llama-3.3-70b-versatile"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "llama-3.3-70b-versatile",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self._chunks:
            yield chunk


def _upstream() -> Callable[[Any, httpx.Request], Awaitable[httpx.Response]]:
    """Groq's side: a stand-in for ``UpstreamTransport.handle_async_request``, so the runtime's
    own client (``llm_agg.http_transport.UpstreamClient``) runs and only the network is not."""
    answer = json.dumps(COMPLETION).encode()
    reads = chat_stream()
    listing = {"object": "list", "data": [{"id": "llama-3.3-70b-versatile", "object": "model"}]}

    async def respond(transport: Any, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/models"):
            return httpx.Response(200, json=listing)
        if json.loads(await request.aread()).get("stream"):
            sse = {"content-type": "text/event-stream"}
            return httpx.Response(200, headers=sse, stream=_Chunks(reads))
        return httpx.Response(200, headers={"content-type": "application/json"}, content=answer)

    return respond


def bodies(size: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """name: (path, body) for each endpoint, asking the same of the same model."""
    if size == "small":
        messages: dict[str, Any] = {"messages": [{"role": "user", "content": ASK}]}
        return {
            "chat": ("/v1/chat/completions", {"model": MODEL, **messages, "max_tokens": 64}),
            "messages": ("/v1/messages", {"model": MODEL, **messages, "max_tokens": 64}),
            "responses": (
                "/v1/responses",
                {"model": MODEL, "input": ASK, "max_output_tokens": 64, "store": False},
            ),
        }
    from llm_agg.api.messages import parse_messages
    from llm_agg.api.responses import parse_responses
    from llm_agg.bridges.messages_in import chat_body
    from llm_agg.responses.request import to_chat
    from llm_agg.routing.catalog import Catalog

    claude = {**claude_code_request(), "model": MODEL, "stream": False}
    codex = {**codex_request(), "model": MODEL, "stream": False}
    chat_of_claude = chat_body(parse_messages(json.dumps(claude).encode())[1], Catalog())
    chat_of_codex = to_chat(parse_responses(codex), codex).call.body
    return {
        "chat (Claude Code's, as chat)": ("/v1/chat/completions", chat_of_claude),
        "messages (Claude Code's)": ("/v1/messages", claude),
        "chat (Codex's, as chat)": ("/v1/chat/completions", chat_of_codex),
        "responses (Codex's)": ("/v1/responses", codex),
    }


# The kinds of limit of Groq's free tier (config/providers.yaml), too high to be reached.
LIMITS = "{rpm: 1000000000, rpd: 1000000000, tpm: 1000000000, tpd: 1000000000}"


def gateway_key(settings: Settings) -> str:
    """A new gateway key with a requests-per-minute and a tokens-per-day limit, in the store."""
    from llm_agg.gateway_keys import GatewayKeys
    from llm_agg.store.factory import SQLITE_FILE
    from llm_agg.store.sqlite import sqlite_stores

    stores = sqlite_stores(settings.data_dir / SQLITE_FILE)
    try:
        return GatewayKeys(stores.gateway_keys).create("bench", None, 10**9, 10**12).key
    finally:
        stores.close()


async def call(app: App, path: str, body: bytes, key: str | None = None) -> tuple[float, int]:
    """(CPU seconds to the first body byte, status) of one request; the rest is drained."""
    started = time.process_time()
    first: float | None = None
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal first, status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and message.get("body") and first is None:
            first = time.process_time()

    headers = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")]
    if key is not None:
        headers.append((b"authorization", b"Bearer " + key.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return (first or time.process_time()) - started, status


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    """The app started and stopped as uvicorn does."""
    events = asyncio.Queue[dict[str, Any]]()
    done = {
        "lifespan.startup.complete": asyncio.Event(),
        "lifespan.shutdown.complete": asyncio.Event(),
    }

    async def send(message: dict[str, Any]) -> None:
        if message["type"] in done:
            done[message["type"]].set()

    task = asyncio.get_running_loop().create_task(app({"type": "lifespan"}, events.get, send))
    await events.put({"type": "lifespan.startup"})
    await done["lifespan.startup.complete"].wait()
    try:
        yield
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await done["lifespan.shutdown.complete"].wait()
        await task


def served_app(tmp: Path, upstream: str, limits: bool = False) -> tuple[App, Settings]:
    """The app ``llm-agg serve`` runs, serving Groq's model from ``upstream`` (its data in
    ``tmp``), and its settings."""
    catalog = tmp / "providers.yaml"
    limited = f", limits: {LIMITS}" if limits else ""
    catalog.write_text(
        "providers:\n  groq:\n    models:\n"
        f"      - {{id: llama-3.3-70b-versatile, capabilities: [tools, json]{limited}}}\n"
    )
    env = {
        "LLM_AGG_DATA_DIR": str(tmp / "data"),
        "LLM_AGG_CONFIG": str(catalog),
        "GROQ_BASE_URL": upstream,
        "GROQ_API_KEY": "gsk_bench",
        "LLM_AGG_ADMIN_KEY": "sk-llmagg-admin-bench-not-a-secret-0123456789",
    }
    settings = Settings.from_env(env)
    policy = HostPolicy.from_env(settings.require_auth, settings.environ)
    return HostGuard(create_app(settings), policy), settings


async def measure(
    size: str, rounds: int, requests: int, only: str | None = None, limits: bool = False
) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        app, settings = served_app(Path(tmp), UPSTREAM, limits)
        key = gateway_key(settings) if limits else None
        figures: dict[str, list[float]] = {}
        # The client sends straight to its transport (UpstreamClient): answer there.
        with mock.patch.object(UpstreamTransport, "handle_async_request", _upstream()):
            async with lifespan(app):
                cases = {n: c for n, c in bodies(size).items() if only is None or only in n}
                figures = await _rounds(app, cases, rounds, requests, key)
        return figures


async def _rounds(
    app: App,
    cases: dict[str, tuple[str, dict[str, Any]]],
    rounds: int,
    requests: int,
    key: str | None,
) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    for rep in range(rounds + 1):  # the first round warms every path, not counted
        for name, (path, body) in cases.items():
            for stream in (False, True):
                raw = json.dumps({**body, "stream": stream}).encode()
                started = time.process_time()
                firsts = []
                for _ in range(requests):
                    first, status = await call(app, path, raw, key)
                    if status != 200:
                        raise RuntimeError(f"{name}: HTTP {status}")
                    firsts.append(first)
                per = (time.process_time() - started) / requests * 1e6
                if rep == 0:
                    continue
                figures.setdefault(f"{name}, {'stream' if stream else 'one answer'}", []).append(
                    per
                )
                if stream:
                    label = f"{name}, stream to its first byte"
                    figures.setdefault(label, []).append(statistics.fmean(firsts) * 1e6)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200, help="per case and round")
    parser.add_argument("--size", choices=("small", "large"), default="small")
    parser.add_argument("--only", help="only the endpoints whose name holds this (e.g. chat)")
    parser.add_argument(
        "--limits",
        action="store_true",
        help="the free tier's kinds of limit on the model, and a gateway key with limits",
    )
    parser.add_argument(
        "--counters-in-threads",
        action="store_true",
        help="the store's counter work in threads, never on the loop (store/nowait.py)",
    )
    args = parser.parse_args()
    if args.counters_in_threads:
        from llm_agg.store.sqlite import SQLiteCounters

        del SQLiteCounters.nowait  # counting() and spawn_counting() then take a thread
    figures = asyncio.run(measure(args.size, args.rounds, args.requests, args.only, args.limits))
    print("| CPU µs per request | min | median |\n| --- | ---: | ---: |")
    for name in sorted(figures, key=lambda n: (n.rsplit(", ", 1)[1], n)):
        values = figures[name]
        print(f"| {name} | {min(values):,.0f} | {statistics.median(values):,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
