"""Streams through the upstream transport: each chunk handed on as it arrives, a slow reader
holding the server back, and a stream closed early never leaving its connection in the pool."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.fakes.raw_http import Handler, RawServer, raw_server, read_request
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio

CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_a_chunk_is_handed_on_before_the_server_sends_the_next(upstream: Client) -> None:
    # The server sends the second event only once the client has read the first: a transport
    # that buffered would wait for ever (here: the test's timeout).
    first_read = asyncio.Event()

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader, server)
            writer.write(CHUNKED + chunk(b"data: 1\n\n"))
            await first_read.wait()
            writer.write(chunk(b"data: 2\n\n") + b"0\r\n\r\n")

        return handle

    received = []
    async with (
        raw_server(serve) as server,
        upstream() as client,
        asyncio.timeout(5),
        client.stream("POST", server.url(), content=b"{}") as response,
    ):
        async for part in response.aiter_raw():
            received.append(part)
            first_read.set()
    assert received == [b"data: 1\n\n", b"data: 2\n\n"]


async def test_a_stream_closed_early_closes_its_connection(upstream: Client) -> None:
    closed = asyncio.Event()

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader, server)
            writer.write(CHUNKED + chunk(b"data: 1\n\n"))
            if await reader.read(1) == b"":  # the client closed its side
                closed.set()

        return handle

    async with raw_server(serve) as server, upstream() as client, asyncio.timeout(5):
        async with client.stream("POST", server.url(), content=b"{}") as response:
            async for _ in response.aiter_raw():
                break
        await closed.wait()
        # The next request does not get the half-read connection.
        async with client.stream("POST", server.url(), content=b"{}") as response:
            async for _ in response.aiter_raw():
                break
    assert server.connections == 2


async def test_a_slow_reader_holds_the_server_back(upstream: Client) -> None:
    total = 64 * 1024 * 1024
    piece = b"x" * (64 * 1024)
    sent = 0

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal sent
            await read_request(reader, server)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n".encode())
            while sent < total:
                writer.write(piece)
                await writer.drain()
                sent += len(piece)

        return handle

    read = 0
    async with (
        raw_server(serve) as server,
        upstream() as client,
        asyncio.timeout(20),
        client.stream("GET", server.url()) as response,
    ):
        async for part in response.aiter_raw():
            if not read:
                await asyncio.sleep(0.3)  # reads nothing meanwhile
                # Kernel buffers and what the transport keeps: far short of the whole body.
                assert sent - len(part) < total // 4
            read += len(part)
    assert read == total


async def test_a_stream_read_to_its_end_gives_its_connection_back(upstream: Client) -> None:
    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await read_request(reader, server) is not None:
                writer.write(CHUNKED + chunk(b"data: 1\n\n") + b"0\r\n\r\n")

        return handle

    async with raw_server(serve) as server, upstream() as client:
        for _ in range(3):
            async with client.stream("POST", server.url(), content=b"{}") as response:
                assert await response.aread() == b"data: 1\n\n"
        assert (await client.get(server.url())).status_code == 200
    assert server.connections == 1


async def test_chunks_that_arrive_together_are_still_handed_on_one_by_one(
    upstream: Client,
) -> None:
    # As httpcore (h11) did: the relay tells an error in the piece after the first event (a
    # mid-stream error) from one before it (a failed attempt) by these boundaries.
    events = [b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"]

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader, server)
            writer.write(CHUNKED + b"".join(map(chunk, events)) + b"0\r\n\r\n")
            await read_request(reader, server)

        return handle

    async with (
        raw_server(serve) as server,
        upstream() as client,
        client.stream("POST", server.url(), content=b"{}") as response,
    ):
        assert [part async for part in response.aiter_raw()] == events
