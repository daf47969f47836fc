"""A loopback server that answers HTTP byte by byte as a test scripts it, for the upstream
transport's tests: each accepted connection runs the test's ``handler(reader, writer)``,
which reads requests with ``read_request`` and writes whatever bytes it likes (a malformed
answer, half a body, a close, nothing at all).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    port: int
    scheme: str = "http"
    connections: int = 0  # accepted so far
    requests: list[bytes] = field(default_factory=list)  # each request's head and body
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


Serve = Callable[[RawServer], Handler]


async def read_request(reader: asyncio.StreamReader, server: RawServer) -> bytes | None:
    """One request (head and a Content-Length or chunked body), or None at the client's close."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lowered = head.lower()
    body = b""
    if b"transfer-encoding: chunked" in lowered:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    elif b"content-length:" in lowered:
        length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
    server.requests.append(head + body)
    return head + body


def answer(body: bytes = b"hello", status: str = "200 OK", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def keep_answering(reply: bytes = b"") -> Serve:
    """Every request on a connection answered with ``reply`` (or ``answer()``)."""

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await read_request(reader, server) is not None:
                writer.write(reply or answer())
                await writer.drain()

        return handle

    return serve


def replies(*parts: bytes, end: str = "open") -> Serve:
    """Each connection: read one request, write ``parts`` a moment apart, then ``end``: keep
    the connection open (until the client's next request), ``close`` it, ``reset`` it, or
    ``hold`` it, sending nothing more."""

    def serve(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader, server)
            for part in parts:
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)
            if end == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            elif end == "close":
                writer.close()
            elif end == "hold":
                await asyncio.sleep(30)
            else:
                await read_request(reader, server)

        return handle

    return serve


@asynccontextmanager
async def raw_server(serve: Serve, tls: ssl.SSLContext | None = None) -> AsyncIterator[RawServer]:
    """Serve on 127.0.0.1 (an ephemeral port) each connection with ``serve(server)``'s
    handler."""
    server = RawServer(port=0, scheme="https" if tls is not None else "http")
    handle = serve(server)
    tasks: set[asyncio.Task[None]] = set()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        server.writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away: what the test looks at is on its side
        except asyncio.CancelledError:
            pass  # the test is over (asyncio would log a handler task ending cancelled)
        finally:
            tasks.discard(task)
            writer.close()

    listening = await asyncio.start_server(accepted, "127.0.0.1", 0, ssl=tls)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        for task in list(tasks):
            task.cancel()
        for writer in server.writers:
            if not writer.transport.is_closing():
                writer.transport.abort()
        await asyncio.sleep(0)
