"""A fake socket transport for driving a uvicorn protocol in a test without a network: it keeps
what the protocol writes, and closing it tells the protocol the connection is lost on the next
turn of ``loop``, as a real socket's transport does (when a loop and protocol are given)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

GONE = b""  # in a list of reads: the client goes there


class Socket:
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.protocol: asyncio.Protocol | None = None
        self.out = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed and self.loop is not None and self.protocol is not None:
            self.loop.call_soon(self.protocol.connection_lost, None)
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def feed(
    kind: type[HttpToolsProtocol], app: Any, sock: Socket, reads: list[bytes], turns: int
) -> None:
    """``reads`` fed to a new connection of ``kind`` (uvicorn's HTTP protocol or ours) serving
    ``app`` on ``sock``, in a loop of its own turned ``turns`` times after each read; a
    ``GONE`` read is the client's going."""
    loop = asyncio.new_event_loop()
    try:
        config = uvicorn.Config(app, log_level="warning", proxy_headers=False)
        config.load()
        protocol = kind(config, ServerState(), {}, loop)  # type: ignore[arg-type]
        protocol.connection_made(sock)  # type: ignore[arg-type]
        for data in reads:
            if data == GONE:
                protocol.connection_lost(None)
            else:
                protocol.data_received(data)
            for _ in range(turns):
                loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
