"""The relay reads an answer of the upstream transport through ``connection.Reads``, not
``aiter_raw``'s async generators: each case here is read both ways, on a real connection, and
must give the same pieces, the same byte count, the same error (naming the request) and leave
the answer and its connection as ``aiter_raw`` does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from llm_agg.http_transport.connection import HIGH_WATER, Body, Reads
from tests.fakes.raw_http import Handler, RawServer, raw_server, read_request, replies
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio

CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


Reader = Callable[[httpx.Response], AsyncIterator[bytes]]
BOTH: list[Reader] = [httpx.Response.aiter_raw, Reads]
CASES: dict[str, tuple[tuple[bytes, ...], str]] = {
    "chunked, one read each": (
        (CHUNKED + chunk(b"data: 1\n\n"), chunk(b"data: 2\n\n"), b"0\r\n\r\n"),
        "open",
    ),
    "chunked, arriving together": (
        (CHUNKED + chunk(b"data: 1\n\n") + chunk(b"data: 2\n\n") + chunk(b"x") + b"0\r\n\r\n",),
        "open",
    ),
    "a length": ((b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello", b"world"), "open"),
    "no length, to the close": ((b"HTTP/1.1 200 OK\r\n\r\nhello", b"world"), "close"),
    "an empty body": ((b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",), "open"),
    "cut off inside the body": ((CHUNKED + chunk(b"data: 1\n\n"),), "close"),
    "reset inside the body": ((CHUNKED + chunk(b"data: 1\n\n"),), "reset"),
    "a malformed chunk": ((CHUNKED + chunk(b"data: 1\n\n"), b"zz\r\n"), "hold"),
    "silent past the read timeout": ((CHUNKED + chunk(b"data: 1\n\n"),), "hold"),
}


async def read_all(response: httpx.Response, reader: Reader) -> dict[str, Any]:
    pieces: list[bytes] = []
    error: tuple[type[BaseException], str, bool] | None = None
    try:
        async for piece in reader(response):
            pieces.append(piece)
    except httpx.HTTPError as exc:
        named = isinstance(exc, httpx.RequestError) and exc.request is response.request
        error = (type(exc), str(exc), named)
    return {
        "pieces": pieces,
        "error": error,
        "bytes": response.num_bytes_downloaded,
        "consumed": response.is_stream_consumed,
        "closed": response.is_closed,
    }


@pytest.mark.parametrize("case", CASES)
async def test_the_relay_reads_an_answer_as_aiter_raw_does(upstream: Client, case: str) -> None:
    parts, end = CASES[case]
    found = []
    for reader in BOTH:
        async with raw_server(replies(*parts, end=end)) as server, upstream(timeout=0.3) as c:
            request = c.build_request("POST", server.url(), content=b"{}")
            response = await c.send(request, stream=True)
            assert type(response.stream) is Body
            found.append(await read_all(response, reader))
            await response.aclose()
            found[-1]["pool"] = _pool_size(c)
    assert found[0] == found[1]
    assert found[0]["pieces"] or found[0]["error"] or case == "an empty body"


def _pool_size(client: httpx.AsyncClient) -> int:
    pool = client._transport._pool  # type: ignore[attr-defined]
    return 0 if pool is None else int(pool.size)


def one_event_each(server: RawServer) -> Handler:
    async def handle(reader: Any, writer: Any) -> None:
        while await read_request(reader, server) is not None:
            writer.write(CHUNKED + chunk(b"data: 1\n\n") + b"0\r\n\r\n")

    return handle


@pytest.mark.parametrize("reader", BOTH, ids=["httpx", "ours"])
async def test_a_connection_read_to_its_end_is_used_again(upstream: Client, reader: Reader) -> None:
    async with raw_server(one_event_each) as server, upstream() as client:
        for _ in range(3):
            response = await client.send(
                client.build_request("POST", server.url(), content=b"{}"), stream=True
            )
            assert [p async for p in reader(response)] == [b"data: 1\n\n"]
            assert response.is_closed
    assert server.connections == 1


@pytest.mark.parametrize("reader", BOTH, ids=["httpx", "ours"])
async def test_an_answer_read_or_closed_is_refused_again(upstream: Client, reader: Reader) -> None:
    async with raw_server(one_event_each) as server, upstream() as client:
        response = await client.send(
            client.build_request("POST", server.url(), content=b"{}"), stream=True
        )
        _ = [p async for p in reader(response)]
        with pytest.raises(httpx.StreamConsumed):
            await anext(reader(response))
        closed = await client.send(
            client.build_request("POST", server.url(), content=b"{}"), stream=True
        )
        await closed.aclose()
        with pytest.raises(httpx.StreamClosed):
            await anext(reader(closed))


def much(server: RawServer) -> Handler:
    """An answer of far more than the connection keeps unread, sent at once."""

    async def handle(reader: Any, writer: Any) -> None:
        if await read_request(reader, server) is not None:
            writer.write(CHUNKED + chunk(b"x" * 65536) * 12 + b"0\r\n\r\n")
            await writer.drain()

    return handle


@pytest.mark.parametrize("reader", BOTH, ids=["httpx", "ours"])
async def test_a_slow_reader_holds_the_upstream_back_then_reads_it_all(
    upstream: Client, reader: Reader
) -> None:
    async with raw_server(much) as server, upstream(timeout=5.0) as client:
        response = await client.send(
            client.build_request("POST", server.url(), content=b"{}"), stream=True
        )
        conn = response.stream._conn  # type: ignore[attr-defined]
        for _ in range(100):  # the reader away: the socket stops being read past HIGH_WATER
            if conn.paused:
                break
            await asyncio.sleep(0.01)
        assert conn.paused and conn.buffered > HIGH_WATER
        pieces = [p async for p in reader(response)]  # read below LOW_WATER: read again
        assert not conn.paused
    assert b"".join(pieces) == b"x" * 65536 * 12
