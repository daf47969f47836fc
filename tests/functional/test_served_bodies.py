"""A chat request's body through the served gateway (uvicorn with ``LimitedHttpToolsProtocol``,
the Host guard, the chat app), however it arrives: whole with its head (taken whole,
``llm_agg.api.arrived``), in pieces, chunked, after ``Expect: 100-continue``; bounded and typed
as before; several on one connection, pipelined or not."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import orjson
import pytest
import respx

from llm_agg.api.arrived import TAKE
from llm_agg_local.hosts import HostGuard, HostPolicy
from llm_agg_local.server import create_app
from tests.functional.conftest import GROQ, settings_for
from tests.functional.test_client_departs import ASK, Connection, serving
from tests.functional.test_client_leaves import COMPLETION

pytestmark = pytest.mark.anyio

BODY = orjson.dumps(ASK)
LIMIT = 4096


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[int]:
    settings = dataclasses.replace(settings_for(tmp_path), max_body_bytes=LIMIT)
    app = HostGuard(create_app(settings), HostPolicy(keyed=False))
    server, task, port = await serving(app)
    yield port
    server.should_exit = True
    with anyio.fail_after(10):
        await task


def head(port: int, *fields: str) -> bytes:
    lines = ["POST /v1/chat/completions HTTP/1.1", f"Host: 127.0.0.1:{port}", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def typed(port: int, *fields: str) -> bytes:
    return head(port, "Content-Type: application/json", *fields)


def chunked(body: bytes, pieces: int) -> list[bytes]:
    step = -(-len(body) // pieces)
    parts = [body[i : i + step] for i in range(0, len(body), step)]
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]


async def sent(client: Connection, *reads: bytes) -> None:
    for data in reads:
        client.writer.write(data)
        await client.writer.drain()
        await asyncio.sleep(0.02)  # each read its own: the server waits for the next


def ways(port: int) -> dict[str, list[bytes]]:
    length = f"Content-Length: {len(BODY)}"
    return {
        "whole": [typed(port, length) + BODY],
        "head, then the body": [typed(port, length), BODY],
        "in three pieces": [typed(port, length) + BODY[:5], BODY[5:20], BODY[20:]],
        "chunked, in pieces": [
            typed(port, "Transfer-Encoding: chunked"),
            *chunked(BODY, 3),
        ],
        "chunked, whole": [typed(port, "Transfer-Encoding: chunked") + b"".join(chunked(BODY, 3))],
    }


@respx.mock
@pytest.mark.parametrize("way", list(ways(0)))
async def test_a_body_however_it_arrives_is_answered(served: int, way: str) -> None:
    route = respx.post(GROQ).respond(json=COMPLETION)
    client = await Connection(served).open()
    with anyio.fail_after(10):
        await sent(client, *ways(served)[way])
        status, body = await client.answer()
        # Again on the same connection: a body taken whole leaves the next request its own.
        await sent(client, *ways(served)["whole"])
        again = await client.answer()
    assert status == 200 and orjson.loads(body)["object"] == "chat.completion"
    assert again == (status, body)
    assert [orjson.loads(c.request.content)["messages"] for c in route.calls] == [
        ASK["messages"]
    ] * 2
    await client.leave()


@respx.mock
async def test_a_client_that_expects_100_continue_is_told_to_go_on(served: int) -> None:
    respx.post(GROQ).respond(json=COMPLETION)
    client = await Connection(served).open()
    with anyio.fail_after(10):
        await sent(client, typed(served, f"Content-Length: {len(BODY)}", "Expect: 100-continue"))
        assert await client.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        await sent(client, BODY)
        status, _ = await client.answer()
    assert status == 200
    await client.leave()


@respx.mock
async def test_pipelined_requests_each_get_their_own_body(served: int) -> None:
    route = respx.post(GROQ).respond(json=COMPLETION)
    asks = [{**ASK, "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(3)]
    client = await Connection(served).open()
    with anyio.fail_after(10):
        client.send(*asks)
        answers = [await client.answer() for _ in asks]
    assert [status for status, _ in answers] == [200] * 3
    assert [orjson.loads(c.request.content)["messages"] for c in route.calls] == [
        a["messages"] for a in asks
    ]
    await client.leave()


@pytest.mark.parametrize("way", ["declared", "chunked"])
async def test_a_body_over_the_bound_is_413_and_one_not_json_415(served: int, way: str) -> None:
    big = b'{"x": "' + b"a" * LIMIT + b'"}'
    fields = [f"Content-Length: {len(big)}"] if way == "declared" else []
    reads = (
        [typed(served, *fields) + big]
        if way == "declared"
        else [typed(served, "Transfer-Encoding: chunked"), *chunked(big, 2)]
    )
    client = await Connection(served).open()
    with anyio.fail_after(10):
        await sent(client, *reads)
        status, body = await client.answer()
        assert status == 413 and b"too large" in body
    await client.leave()
    client = await Connection(served).open()
    with anyio.fail_after(10):
        await sent(client, head(served, f"Content-Length: {len(BODY)}", "Content-Type: text/plain"))
        await sent(client, BODY)
        status, body = await client.answer()
    assert status == 415 and b"unsupported_media_type" in body
    await client.leave()


def test_the_body_is_taken_by_name_from_the_served_cycle() -> None:
    """The served protocol's cycle offers the body under the name the app looks for."""
    from llm_agg_local.http_limits import _Cycle

    assert callable(getattr(_Cycle, TAKE))
