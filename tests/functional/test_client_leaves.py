"""A client that leaves: the upstream call it asked for is cancelled, whether the gateway is
still waiting for the answer or relaying a stream, and no other provider is tried for it; on
each of the three chat endpoints (Chat Completions, Messages, Responses)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import orjson
import pytest
import respx

from llm_agg_local.hosts import HostGuard, HostPolicy
from llm_agg_local.server import create_app
from tests.functional.conftest import CEREBRAS, GROQ, settings_for

pytestmark = pytest.mark.anyio

ASK = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
# The same question on each endpoint, by path.
ASKS = {
    "/v1/chat/completions": ASK,
    "/v1/messages": {**ASK, "max_tokens": 64},
    "/v1/responses": {"model": "fake-model", "input": "hi", "store": False},
}
PATHS = list(ASKS)
FIRST = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
)
COMPLETION = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "fake-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
}
App = Callable[..., Any]


class Client:
    """One request over raw ASGI, as uvicorn hands it over: the body, then nothing until the
    client leaves (``leave``), when ``receive`` says ``http.disconnect``."""

    def __init__(self, body: dict[str, Any], path: str = "/v1/chat/completions") -> None:
        self.body = orjson.dumps(body)
        self.path = path
        self.gone = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self.first_byte = asyncio.Event()
        self._asked = False

    async def leaves(self, app: App, once: asyncio.Event) -> None:
        """Ask, and leave once ``once`` is set; the app must be done within seconds."""
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(self.call, app)
                await once.wait()
                self.gone.set()

    async def receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            self.first_byte.set()

    async def call(self, app: App) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},  # uvicorn's
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"host", b"127.0.0.1:8000")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, self.receive, self.send)


@pytest.fixture
def app(tmp_path: Any) -> App:
    return HostGuard(create_app(settings_for(tmp_path)), HostPolicy(keyed=False))


class Upstream:
    """What the provider saw: its call started, then let go (cancelled, its stream closed)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.let_go = False

    async def hold(self, request: httpx.Request) -> httpx.Response:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.let_go = True
            raise
        return httpx.Response(200, json={})

    def stream(self, before_first: float = 0.0) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                self.started.set()
                await asyncio.sleep(before_first)
                yield FIRST
                await asyncio.sleep(30)
                yield b"data: [DONE]\n\n"
            finally:
                self.let_go = True

        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    def never_answers(self, stream: bool) -> respx.Route:
        """Groq held without an answer (no first event for 30 s); Cerebras, never to be asked."""
        if stream:
            respx.post(GROQ).mock(return_value=self.stream(before_first=30))
        else:
            respx.post(GROQ).mock(side_effect=self.hold)
        return respx.post(CEREBRAS).respond(200, json={})


@respx.mock
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_client_that_leaves_before_the_answer_cancels_the_call(
    app: App, stream: bool, path: str
) -> None:
    upstream = Upstream()
    other = upstream.never_answers(stream)
    client = Client({**ASKS[path], "stream": stream}, path)
    await client.leaves(app, once=upstream.started)  # the 30 s are not waited for
    assert upstream.let_go
    assert not other.called  # nobody to answer: no failover either
    assert all(m.get("status") != 200 for m in client.sent)


@respx.mock
@pytest.mark.parametrize("path", PATHS)
async def test_a_client_that_leaves_in_the_middle_of_a_stream_closes_the_upstream_stream(
    app: App, path: str
) -> None:
    upstream = Upstream()
    respx.post(GROQ).mock(return_value=upstream.stream())
    client = Client({**ASKS[path], "stream": True}, path)
    await client.leaves(app, once=client.first_byte)
    assert upstream.let_go
    assert client.sent[0]["status"] == 200
    relayed = b"".join(m.get("body", b"") for m in client.sent[1:])
    assert b'"Hel"' in relayed
    assert b"upstream_stream_stalled" not in relayed  # closed as the client left, not later


@respx.mock
@pytest.mark.parametrize("path", PATHS)
async def test_a_client_that_stays_gets_its_whole_stream_and_leaves_no_watcher_behind(
    app: App, path: str
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if orjson.loads(request.content).get("stream"):
            sse = {"content-type": "text/event-stream"}
            return httpx.Response(200, content=FIRST + b"data: [DONE]\n\n", headers=sse)
        return httpx.Response(200, json=COMPLETION)

    respx.post(GROQ).mock(side_effect=answer)
    for stream in (True, False):
        client = Client({**ASKS[path], "stream": stream}, path)
        with anyio.fail_after(10):
            await client.call(app)
        assert client.sent[0]["status"] == 200
        assert client.sent[-1].get("more_body", False) is False
    await asyncio.sleep(0)  # a cancelled watcher ends at the loop's next turn
    watching = [t for t in asyncio.all_tasks() if "_watch" in repr(t.get_coro())]
    assert watching == []
