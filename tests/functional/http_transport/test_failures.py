"""The upstream transport's failures are httpx's exception classes, as httpcore raised them:
the dispatcher tells a connection never made (``ConnectError``, ``ConnectTimeout``) from an
answer that never came (``ReadTimeout``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from llm_agg.http_transport.connection import Connection
from tests.fakes.raw_http import (
    Handler,
    RawServer,
    answer,
    keep_answering,
    raw_server,
    read_request,
    replies,
)
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio


async def test_a_refused_connection_is_a_connect_error(upstream: Client, closed_port: int) -> None:
    async with upstream() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{closed_port}/")


async def test_a_connection_never_accepted_is_a_connect_timeout(
    upstream: Client, full_backlog: int
) -> None:
    async with upstream(timeout=httpx.Timeout(5.0, connect=0.2)) as client:
        with pytest.raises(httpx.ConnectTimeout):
            await client.get(f"http://127.0.0.1:{full_backlog}/")


async def test_an_unresolvable_host_is_a_connect_error(upstream: Client) -> None:
    async with upstream() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://no-such-host.invalid/")


@pytest.mark.parametrize(
    "parts",
    [[], [b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello"]],
    ids=["no-answer", "body-stops"],
)
async def test_nothing_more_within_the_read_timeout_is_a_read_timeout(
    upstream: Client, parts: list[bytes]
) -> None:
    async with (
        raw_server(replies(*parts, end="hold")) as server,
        upstream(timeout=httpx.Timeout(5.0, read=0.2)) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url())


def deaf(server: RawServer) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)  # reads nothing

    return handle


async def test_a_request_the_server_does_not_read_is_a_write_timeout(upstream: Client) -> None:
    async with (
        raw_server(deaf) as server,
        upstream(timeout=httpx.Timeout(5.0, write=0.2)) as client,
    ):
        with pytest.raises(httpx.WriteTimeout):
            await client.post(server.url(), content=b"x" * (64 * 1024 * 1024))


async def test_a_request_cancelled_while_waiting_drops_its_connection(upstream: Client) -> None:
    answered = asyncio.Event()

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await read_request(reader, server) is not None:
                if len(server.requests) == 1:
                    await asyncio.sleep(30)  # the first request is cancelled meanwhile
                writer.write(answer())
                answered.set()

        return handle

    async with raw_server(serve) as server, upstream(max_connections=1) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await client.get(server.url())
        # The one connection slot is free again, and the cancelled connection not reused.
        assert (await client.get(server.url())).text == "hello"
    assert server.connections == 2


async def test_other_schemes_and_head_stay_on_httpx_transport(upstream: Client) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"  # a HEAD answer: no body
    async with raw_server(keep_answering(reply)) as server, upstream() as client:
        response = await client.head(server.url())
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/")
    assert (response.status_code, response.headers["content-length"]) == (200, "5")


async def test_each_wait_on_a_connection_times_out_on_its_own_time() -> None:
    # One timer a connection, moved on lazily (Connection.wait): a wait after a longer one
    # still gives up on its own time, one after a shorter one not before its own.
    loop = asyncio.get_running_loop()
    conn = Connection(loop, (b"http", "127.0.0.1", 80), lambda conn: None)

    async def woken(after: float, seconds: float) -> bool:
        loop.call_later(after, conn._wake)
        return await conn.wait(seconds)

    assert await woken(0.0, 30.0)
    started = loop.time()
    assert not await conn.wait(0.05)  # the 30 s timer is not waited for
    assert loop.time() - started < 10
    assert await woken(0.0, 0.05)
    assert await woken(0.2, 5.0)  # the 0.05 s timer fired meanwhile: not this wait's time
    assert await woken(0.0, None)  # no timeout at all
    conn.abort()
    assert conn._timer is None  # a connection let go holds no timer
