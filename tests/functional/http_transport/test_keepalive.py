"""The upstream transport's pool against a loopback server: connections reused, bounded,
expired, and a connection its server closed while idle never failing a request."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fakes.raw_http import (
    Handler,
    RawServer,
    answer,
    keep_answering,
    raw_server,
    read_request,
)
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio


async def test_sequential_requests_share_one_connection(upstream: Client) -> None:
    async with raw_server(keep_answering()) as server, upstream() as client:
        for _ in range(3):
            assert (await client.get(server.url())).text == "hello"
    assert server.connections == 1


async def test_concurrent_requests_open_at_most_the_bound_and_queue_past_it(
    upstream: Client,
) -> None:
    busy = 0
    most = 0

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal busy, most
            while await read_request(reader, server) is not None:
                busy += 1
                most = max(most, busy)
                await asyncio.sleep(0.05)
                busy -= 1
                writer.write(answer())

        return handle

    async with raw_server(serve) as server, upstream(max_connections=2) as client:
        answers = await asyncio.gather(*(client.get(server.url()) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert (server.connections, most) == (2, 2)


async def test_no_free_connection_within_the_pool_timeout_is_a_pool_timeout(
    upstream: Client,
) -> None:
    async with (
        raw_server(keep_answering()) as server,
        upstream(max_connections=1, timeout=httpx.Timeout(5.0, pool=0.2)) as client,
        client.stream("GET", server.url()),  # holds the only connection, unread
    ):
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url())


async def test_a_connection_freed_goes_to_the_request_waiting_for_one(upstream: Client) -> None:
    async with raw_server(keep_answering()) as server, upstream(max_connections=1) as client:
        held = await client.send(client.build_request("GET", server.url()), stream=True)
        waiting = asyncio.ensure_future(client.get(server.url()))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await held.aread()
        assert (await waiting).text == "hello"
    assert server.connections == 1


async def test_an_idle_connection_its_server_closed_is_not_used_again(upstream: Client) -> None:
    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader, server)
            writer.write(answer())
            await writer.drain()
            # then closes: the client learns it while the connection is idle

        return handle

    async with raw_server(serve) as server, upstream() as client:
        await client.get(server.url())
        await asyncio.sleep(0.05)
        assert (await client.get(server.url())).text == "hello"
    assert (server.connections, len(server.requests)) == (2, 2)


def closes_on_second_request(server: RawServer) -> Handler:
    """Answers a connection's first request; closes, unanswered, at its second (a server
    closing an idle connection just as the client sends on it)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader, server)
        writer.write(answer())
        await writer.drain()
        await read_request(reader, server)

    return handle


async def test_a_request_met_by_a_stale_connection_is_sent_again_on_a_new_one(
    upstream: Client,
) -> None:
    async with raw_server(closes_on_second_request) as server, upstream() as client:
        await client.get(server.url())
        second = await client.post(server.url(), content=b"again")
    assert second.text == "hello"
    assert (server.connections, len(server.requests)) == (2, 3)
    assert server.requests[1].endswith(b"again") and server.requests[2].endswith(b"again")


async def test_the_retry_goes_to_a_new_connection_not_another_idle_one(
    upstream: Client,
) -> None:
    # A server that restarted closed every idle connection at once: the next idle one would be
    # just as stale.
    async with raw_server(closes_on_second_request) as server, upstream() as client:
        await asyncio.gather(client.get(server.url()), client.get(server.url()))
        assert (await client.get(server.url())).text == "hello"
    assert (server.connections, len(server.requests)) == (3, 4)


async def test_a_stale_connection_is_retried_once_only(upstream: Client) -> None:
    served = 0

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal served
            while await read_request(reader, server) is not None and not served:
                served += 1
                writer.write(answer())
                await writer.drain()

        return handle

    async with raw_server(serve) as server, upstream() as client:
        await client.get(server.url())
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.get(server.url())
    assert (server.connections, len(server.requests)) == (2, 3)


async def test_a_new_connection_closed_without_an_answer_is_not_retried(
    upstream: Client,
) -> None:
    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader, server)

        return handle

    async with raw_server(serve) as server, upstream() as client:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.get(server.url())
    assert (server.connections, len(server.requests)) == (1, 1)


async def test_a_reused_connection_that_began_its_answer_and_broke_is_not_retried(
    upstream: Client,
) -> None:
    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader, server)
            writer.write(answer())
            await read_request(reader, server)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-le")

        return handle

    async with raw_server(serve) as server, upstream() as client:
        await client.get(server.url())
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url())
    assert server.connections == 1


async def test_idle_connections_past_the_keepalive_expiry_are_not_reused(
    upstream: Client,
) -> None:
    async with raw_server(keep_answering()) as server, upstream(keepalive_expiry=0.05) as client:
        await client.get(server.url())
        await asyncio.sleep(0.1)
        await client.get(server.url())
    assert server.connections == 2


async def test_idle_connections_past_the_keepalive_bound_are_closed(upstream: Client) -> None:
    closed = 0

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal closed
            while await read_request(reader, server) is not None:
                await asyncio.sleep(0.05)
                writer.write(answer())
            closed += 1

        return handle

    async with raw_server(serve) as server, upstream(max_keepalive_connections=1) as client:
        await asyncio.gather(*(client.get(server.url()) for _ in range(3)))
        await asyncio.sleep(0.05)
        assert (server.connections, closed) == (3, 2)


@pytest.mark.parametrize(
    ("request_headers", "reply"),
    [
        ({"connection": "close"}, answer()),
        ({}, answer(extra="connection: close\r\n")),
        ({}, b"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\nhello"),
    ],
    ids=["client-says-close", "server-says-close", "http-1.0"],
)
async def test_a_connection_either_side_wants_closed_is_not_reused(
    upstream: Client, request_headers: dict[str, str], reply: bytes
) -> None:
    async with raw_server(keep_answering(reply)) as server, upstream() as client:
        for _ in range(2):
            assert (await client.get(server.url(), headers=request_headers)).text == "hello"
    assert server.connections == 2


async def test_a_connection_that_failed_frees_its_place_in_the_pool(upstream: Client) -> None:
    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await read_request(reader, server) is not None:
                first = server.connections == 1
                writer.write(b"HTTP/1.1 2x0 Nope\r\n\r\n" if first else answer())

        return handle

    async with (
        raw_server(serve) as server,
        upstream(max_connections=1, timeout=httpx.Timeout(5.0, pool=1.0)) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url())
        assert (await client.get(server.url())).text == "hello"
    assert server.connections == 2


async def test_a_waiter_cancelled_as_it_was_woken_passes_the_connection_on(
    upstream: Client,
) -> None:
    async with (
        raw_server(keep_answering()) as server,
        upstream(max_connections=1, timeout=httpx.Timeout(5.0, pool=2.0)) as client,
    ):
        held = await client.send(client.build_request("GET", server.url()), stream=True)
        first = asyncio.ensure_future(client.get(server.url()))
        second = asyncio.ensure_future(client.get(server.url()))
        await asyncio.sleep(0.05)
        await held.aread()  # frees the connection: the first waiter is woken...
        first.cancel()  # ... and cancelled before it could take it
        assert (await second).text == "hello"
        assert first.cancelled()
