"""A client's going, told by the served protocol itself (``llm_agg.api.departure``): through a
real uvicorn server on loopback with ``LimitedHttpToolsProtocol``, a client that leaves cancels
its upstream call or stream as the task waiting on ``receive()`` did, with no such task; a
request answered whole never counts as gone for the next one, pipelined or not. Any other server
(a plain ASGI transport here) still gets the task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import respx
import uvicorn

from llm_agg.api.errors import GatewayError
from llm_agg.dispatch import _WATCH, _WATCHING, CLIENT_GONE
from llm_agg_local.hosts import HostGuard, HostPolicy
from llm_agg_local.http_limits import LimitedHttpToolsProtocol
from llm_agg_local.server import create_app
from tests.functional.conftest import CEREBRAS, GROQ, settings_for
from tests.functional.test_client_leaves import COMPLETION, FIRST, Upstream
from tests.support.dispatching import streamed

pytestmark = pytest.mark.anyio

ASK = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
App = Callable[[Any, Any, Any], Awaitable[None]]


def watch_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "_watch" in repr(t.get_coro())]


async def serving(app: App) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=LimitedHttpToolsProtocol,
        interface="asgi3",  # as llm-agg serve tells it: the Host guard's call is a plain one
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    with anyio.fail_after(10):
        while not server.started:
            await asyncio.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return server, task, port


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[int]:
    """The gateway's port, served by uvicorn with our protocol in this event loop."""
    app = HostGuard(create_app(settings_for(tmp_path)), HostPolicy(keyed=False))
    server, task, port = await serving(app)
    yield port
    server.should_exit = True
    with anyio.fail_after(10):
        await task


class Connection:
    """One raw HTTP/1.1 connection to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    def request(self, body: dict[str, Any]) -> bytes:
        raw = orjson.dumps(body)
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
        )
        return head.encode() + raw

    def send(self, *bodies: dict[str, Any]) -> None:
        self.writer.write(b"".join(self.request(b) for b in bodies))

    async def answer(self) -> tuple[int, bytes]:
        """The next whole answer: its status and body (a stream's chunks as they came)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = dict(
            line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:] if b": " in line
        )
        if b"content-length" in fields:
            return status, await self.reader.readexactly(int(fields[b"content-length"]))
        return status, await self.reader.readuntil(b"\r\n0\r\n\r\n")

    async def leave(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@respx.mock
@pytest.mark.parametrize("stream", [False, True])
async def test_a_client_that_leaves_before_the_answer_cancels_the_call_without_a_watch_task(
    served: int, stream: bool
) -> None:
    upstream = Upstream()
    other = upstream.never_answers(stream)
    client = await Connection(served).open()
    client.send({**ASK, "stream": stream})
    with anyio.fail_after(10):
        await upstream.started.wait()
        assert watch_tasks() == []  # the protocol tells of the going: nothing waits on receive
        await client.leave()
        while not upstream.let_go:  # the 30 s are not waited for
            await asyncio.sleep(0.01)
    assert not other.called  # nobody to answer: no failover either


@respx.mock
async def test_a_client_that_leaves_mid_stream_closes_the_upstream_stream(
    served: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llm_agg.dispatch")
    upstream = Upstream()
    respx.post(GROQ).mock(return_value=upstream.stream())
    client = await Connection(served).open()
    client.send({**ASK, "stream": True})
    with anyio.fail_after(10):
        head = await client.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b'"Hel"' in await client.reader.readuntil(b"\n\n")
        assert watch_tasks() == []
        await client.leave()
        while not upstream.let_go:
            await asyncio.sleep(0.01)
    # Closed as the client left, not at the provider's 2 s stall later.
    assert "client went away" in caplog.text and "stream stalled" not in caplog.text


def answering(held: Upstream, hold_at: int) -> Callable[[httpx.Request], Any]:
    """The upstream's answers in turn, whole and at once, but the ``hold_at``-th (from 1)."""
    asked = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal asked
        asked += 1
        if asked == hold_at:
            return await held.hold(request)
        if orjson.loads(request.content).get("stream"):
            sse = {"content-type": "text/event-stream"}
            return httpx.Response(200, content=FIRST + b"data: [DONE]\n\n", headers=sse)
        return httpx.Response(200, json=COMPLETION)

    return answer


@respx.mock
async def test_answers_given_whole_do_not_count_as_gone_for_the_next_request(served: int) -> None:
    respx.post(GROQ).mock(side_effect=answering(Upstream(), hold_at=0))
    client = await Connection(served).open()
    with anyio.fail_after(10):
        for stream in (True, False, True, False):
            client.send({**ASK, "stream": stream})
            status, body = await client.answer()
            assert status == 200
            assert (b"[DONE]" if stream else b'"chat.completion"') in body
        client.send(ASK, {**ASK, "stream": True})  # pipelined: both answered, in order
        assert (await client.answer())[0] == 200
        status, body = await client.answer()
        assert status == 200 and b"[DONE]" in body
        await client.leave()
    assert watch_tasks() == []


@respx.mock
async def test_a_client_that_leaves_during_a_pipelined_request_cancels_that_one(
    served: int,
) -> None:
    upstream = Upstream()
    respx.post(GROQ).mock(side_effect=answering(upstream, hold_at=2))
    other = respx.post(CEREBRAS).respond(200, json={})
    client = await Connection(served).open()
    with anyio.fail_after(10):
        client.send(ASK, ASK)  # in one write: the second waits for the first's answer
        assert (await client.answer())[0] == 200
        await upstream.started.wait()
        await client.leave()
        while not upstream.let_go:
            await asyncio.sleep(0.01)
    assert not other.called


class Watched:
    """An app that reads the body, waits for ``go`` (the test's say), then watches its client
    the way dispatch does: what it saw is kept."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.watching = asyncio.Event()
        self.tasked: bool | None = None
        self.gone_at_start: bool | None = None
        self.outcome: int | str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await self.go.wait()

        async def work() -> str:
            watch = _WATCHING.get()  # the dispatch's, watching
            assert watch is not None
            self.tasked = watch._task is not None
            self.gone_at_start = watch.gone
            self.watching.set()
            return await asyncio.sleep(0.2, "done")

        try:
            self.outcome = await streamed(work(), scope, receive)
            scope[_WATCH].stop()
        except GatewayError as exc:
            self.outcome = exc.status
        body = str(self.outcome).encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def test_a_client_gone_before_the_watch_starts_is_seen_gone_at_once() -> None:
    app = Watched()
    server, task, port = await serving(app)
    try:
        client = await Connection(port).open()
        client.send(ASK)
        with anyio.fail_after(10):
            await asyncio.sleep(0.05)  # the body is read; the app waits for go
            await client.leave()
            await asyncio.sleep(0.05)  # the server has seen the connection end
            app.go.set()
            await app.watching.wait()
            while app.outcome is None:
                await asyncio.sleep(0.01)
        assert app.tasked is False and app.gone_at_start is True
        assert app.outcome == CLIENT_GONE  # at once, not after the work's 0.2 s
    finally:
        server.should_exit = True
        await task


async def test_our_server_s_scope_carries_its_departure_and_a_plain_asgi_one_gets_the_task() -> (
    None
):
    app = Watched()
    app.go.set()
    server, task, port = await serving(app)
    try:
        client = await Connection(port).open()
        client.send(ASK)
        with anyio.fail_after(10):
            assert await client.answer() == (200, b"done")
        assert app.tasked is False
        await client.leave()
    finally:
        server.should_exit = True
        await task
    app = Watched()
    app.go.set()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as plain:
        answer = await plain.post("/v1/chat/completions", json=ASK)
    assert (answer.status_code, answer.text) == (200, "done")
    assert app.tasked is True
    await asyncio.sleep(0)  # the stopped watch's task ends at the loop's next turn
    assert watch_tasks() == []
