"""The CPU of a request's front: from its bytes reaching the worker's protocol to the chat
endpoint reading its body (``read_json_body`` entered), in process.

The app is what ``llm-agg serve`` runs in a worker: its call to ``uvicorn.run`` is caught and
the same app (``create_served_app``: the Host guard, the path router, the chat function's app)
loaded by uvicorn's own ``Config`` with the same settings (protocol, proxy headers), started
(its lifespan), served on uvloop, the request's bytes handed to ``data_received`` by a fake
transport, Groq answered in place of the upstream
transport (``bench/endpoints.py``'s). Every request then runs whole, streamed or not, and the
front's CPU (``time.thread_time``) is noted per request; the rest of the request (the body's
parse, the routing, the dispatch, the answer going out) is timed too, as "whole".

    .venv/bin/python bench/front.py --rounds 7 --requests 300
    .venv/bin/python bench/front.py --ab ../base --rounds 9   # this checkout vs another one

``--cold`` sweeps the CPU's caches before each request (a buffer larger than them, a little
unrelated Python), as a served stream's next request finds them (``bench/hops.py``: 2-3 times
the warm figures).

``--ab DIR`` compares this checkout with the one in DIR (e.g. ``git archive main | tar -x -C
DIR``): each round runs one process of each, alternately (DIR's packages first on
``PYTHONPATH``, on this venv), and the table gives the minimum and median over rounds of each
process's median per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import uvloop
from endpoints import MODEL, UPSTREAM, _upstream, lifespan
from servers import free_port
from transforms import ASK

from llm_agg.dispatch import Dispatcher
from llm_agg.http_transport import UpstreamTransport

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("layers/common", "local", "functions/chat", "functions/health")
PATH = "/v1/chat/completions"


class FakeTransport:
    """What uvicorn's protocol asks of a socket's transport, for one loopback connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.closing = False
        self.out: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {
            "sockname": ("127.0.0.1", self.port),
            "peername": ("127.0.0.1", 50123),
        }.get(name, default)

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def writelines(self, data: Any) -> None:
        self.out.append(b"".join(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def request_bytes(port: int, stream: bool) -> bytes:
    """A chat request with the head the ``openai`` SDK sends (its headers, in its order), with
    the placeholder key an open local server is given."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": ASK}], "max_tokens": 64}
    raw = json.dumps({**body, "stream": stream}).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: gzip, deflate\r\n"
        "Connection: keep-alive\r\nAccept: application/json\r\nContent-Type: application/json\r\n"
        "User-Agent: OpenAI/Python 2.8.0\r\nX-Stainless-Lang: python\r\n"
        "X-Stainless-Package-Version: 2.8.0\r\nX-Stainless-OS: Linux\r\n"
        "X-Stainless-Arch: x64\r\nX-Stainless-Runtime: CPython\r\n"
        "X-Stainless-Runtime-Version: 3.11.7\r\nAuthorization: Bearer sk-local\r\n"
        "X-Stainless-Async: async:asyncio\r\nx-stainless-retry-count: 0\r\n"
        f"x-stainless-read-timeout: 600\r\nContent-Length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


def served_config(tmp: Path) -> Any:
    """The uvicorn ``Config`` that ``llm-agg serve`` would run in its worker (what it passes
    to ``uvicorn.run``, caught), on a catalog of one Groq model whose upstream is faked."""
    import uvicorn

    from llm_agg_local.serve import serve

    catalog = tmp / "providers.yaml"
    catalog.write_text(
        "providers:\n  groq:\n    models:\n"
        "      - {id: llama-3.3-70b-versatile, capabilities: [tools, json]}\n"
    )
    os.environ.update(
        LLM_AGG_DATA_DIR=str(tmp / "data"),
        LLM_AGG_CONFIG=str(catalog),
        LLM_AGG_LOG_FILE="-",
        GROQ_BASE_URL=UPSTREAM,
        GROQ_API_KEY="gsk_bench",
        LLM_AGG_ADMIN_KEY="sk-llmagg-admin-bench-not-a-secret-0123456789",
    )
    asked: dict[str, Any] = {}
    args = argparse.Namespace(
        host="127.0.0.1", port=free_port(), workers=1, store="sqlite", require_auth=False
    )
    args.log_level = "warning"
    with (
        mock.patch.object(uvicorn, "run", lambda app, **kw: asked.update(kw, app=app)),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        if serve(args) != 0:
            raise RuntimeError("llm-agg serve refused to start")
    kept = ("app", "factory", "http", "loop", "proxy_headers", "access_log", "forwarded_allow_ips")
    kept += ("interface",)
    config = uvicorn.Config(**{k: v for k, v in asked.items() if k in kept}, log_level="warning")
    config.load()
    return config


# What runs between a stream's end and the next request in a served worker (other processes,
# the loop asleep) leaves the CPU's caches holding something else: a sweep of a buffer larger
# than them and a little unrelated Python stand in for it.
_SWEPT = bytearray(64 * 1024 * 1024)
_ONES = b"\1" * (len(_SWEPT) // 64)
_OTHER = [{"n": n, "s": str(n) * 3, "l": list(range(n % 7))} for n in range(2000)]


def cool() -> None:
    _SWEPT[::64] = _ONES
    json.loads(json.dumps(_OTHER))


async def run(
    rounds: int, requests: int, stream: bool, cold: bool = False, gap: float = 0.0
) -> dict[str, list[float]]:
    """Per round, the median CPU µs a request of: the front, and the whole request."""
    import uvicorn

    import llm_agg.apps.chat as chat

    with tempfile.TemporaryDirectory() as tmp:
        config = served_config(Path(tmp))
        port = 8000
        marks: dict[str, float] = {}
        reading = chat.read_json_body

        async def read_json_body(request: Any, limit: int) -> bytes:
            marks.setdefault("endpoint", time.thread_time())
            return await reading(request, limit)

        opening = Dispatcher._open

        async def _open(self: Any, *args: Any) -> Any:
            marks.setdefault("open", time.thread_time())
            return await opening(self, *args)

        state = uvicorn.server.ServerState()
        data = request_bytes(port, stream)
        loop = asyncio.get_running_loop()
        figures: dict[str, list[float]] = {"front": [], "to _open": [], "whole": []}
        with (
            mock.patch.object(UpstreamTransport, "handle_async_request", _upstream()),
            mock.patch.object(chat, "read_json_body", read_json_body),
            mock.patch.object(Dispatcher, "_open", _open),
        ):
            async with lifespan(config.loaded_app):
                transport = FakeTransport(port)
                protocol = config.http_protocol_class(config, state, {}, loop)
                protocol.connection_made(transport)
                for rep in range(rounds + 1):  # the first round warms up, not counted
                    rows: dict[str, list[float]] = {name: [] for name in figures}
                    for _ in range(requests):
                        if cold:
                            cool()
                        if gap:
                            time.sleep(gap)
                        await one(protocol, transport, data, marks, rows)
                    if rep:
                        for name, values in rows.items():
                            figures[name].append(statistics.median(values))
                protocol.connection_lost(None)
        return figures


async def one(
    protocol: Any,
    transport: FakeTransport,
    data: bytes,
    marks: dict[str, float],
    rows: dict[str, list[float]],
) -> None:
    done = asyncio.get_running_loop().create_future()
    transport.out.clear()
    marks.clear()
    started = time.thread_time()
    protocol.data_received(data)
    cycle = protocol.cycle
    answered: Callable[[], None] = cycle.on_response

    def complete() -> None:
        answered()
        done.set_result(None)

    cycle.on_response = complete
    await done
    ended = time.thread_time()
    if not transport.out or not transport.out[0].startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"not answered 200: {b''.join(transport.out)[:300]!r}")
    rows["front"].append((marks["endpoint"] - started) * 1e6)
    rows["to _open"].append((marks["open"] - started) * 1e6)
    rows["whole"].append((ended - started) * 1e6)


def child(args: argparse.Namespace) -> None:
    figures = uvloop.run(
        run(args.rounds, args.requests, args.stream, args.cold, args.gap_ms / 1000)
    )
    print(json.dumps(figures))


def compare(args: argparse.Namespace) -> None:
    other = Path(args.ab).resolve()
    trees = {"this": ROOT, "other": other}
    found: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    argv = [sys.executable, __file__, "--child", "--rounds", "1", "--requests"]
    argv += [str(args.requests)] + (["--stream"] if args.stream else [])
    argv += ["--cold"] if args.cold else []
    argv += ["--gap-ms", str(args.gap_ms)]
    for rep in range(args.rounds):
        order = list(trees.items()) if rep % 2 == 0 else list(trees.items())[::-1]
        for name, tree in order:
            paths = [str(tree / p) for p in PACKAGES]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
            out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
            for row, values in json.loads(out.stdout.splitlines()[-1]).items():
                found[name].setdefault(row, []).extend(values)
    print(f"this: {ROOT}\nother: {other}")
    table({f"{row} ({name})": v for name, rows in found.items() for row, v in rows.items()})


def table(figures: dict[str, list[float]]) -> None:
    print("| CPU µs per request (median of a round) | min | median |\n| --- | ---: | ---: |")
    for name in sorted(figures):
        values = figures[name]
        print(f"| {name} | {min(values):.1f} | {statistics.median(values):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300, help="per round")
    parser.add_argument("--stream", action="store_true", help="streamed requests")
    parser.add_argument(
        "--cold", action="store_true", help="the CPU's caches swept before each request"
    )
    parser.add_argument(
        "--gap-ms", type=float, default=0.0, help="the thread asleep before each request"
    )
    parser.add_argument("--ab", metavar="DIR", help="compare with the checkout in DIR")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.rounds <= 100 or not 10 <= args.requests <= 10000:
        parser.error("keep it bounded: 1-100 rounds of 10-10000 requests")
    if not 0 <= args.gap_ms <= 100:
        parser.error("keep it bounded: a gap of 0-100 ms")
    if args.child:
        child(args)
    elif args.ab:
        compare(args)
    else:
        gap = args.gap_ms / 1000
        table(uvloop.run(run(args.rounds, args.requests, args.stream, args.cold, gap)))


if __name__ == "__main__":
    main()
