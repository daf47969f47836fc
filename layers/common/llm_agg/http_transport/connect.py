"""Opening a connection: DNS, TCP with happy eyeballs, TLS with SNI, all within the connect
timeout, failing as httpcore does (``ConnectTimeout``, else ``ConnectError``).

Happy eyeballs is done here rather than left to ``loop.create_connection`` because uvloop's
does not take ``happy_eyeballs_delay``: like anyio (what httpcore connects with), a host whose
first address does not answer within 250 ms gets its next address tried alongside.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any, Final

import httpx

from llm_agg.http_transport.connection import Connection

HAPPY_EYEBALLS_DELAY: Final = 0.25

_AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]


async def connect(
    make: Callable[[], Connection],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    seconds: float | None,
) -> Connection:
    loop = asyncio.get_running_loop()
    conn = make()
    try:
        async with asyncio.timeout(seconds):
            sock = await _open_socket(loop, host, port)
            try:
                await loop.create_connection(
                    lambda: conn,
                    sock=sock,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
            except BaseException:
                sock.close()
                raise
    except TimeoutError as exc:  # asyncio.timeout's, or the kernel's ETIMEDOUT
        raise httpx.ConnectTimeout(str(exc) or "no connection in time") from exc
    except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
    return conn


async def _open_socket(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = _interleave(infos)
    if len(addresses) == 1:
        return await _attempt(loop, addresses[0])
    errors: list[BaseException] = []
    winner: socket.socket | None = None
    pending: set[asyncio.Task[socket.socket]] = set()
    try:
        for address in addresses:
            pending.add(loop.create_task(_attempt(loop, address)))
            # The next address starts when one attempt failed, or after the delay.
            done, pending = await asyncio.wait(
                pending, timeout=HAPPY_EYEBALLS_DELAY, return_when=asyncio.FIRST_COMPLETED
            )
            winner = _collect(done, errors)
            if winner is not None:
                return winner
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            winner = _collect(done, errors)
            if winner is not None:
                return winner
    finally:
        for task in pending:
            task.cancel()
            task.add_done_callback(_close_late_socket)
    if len(errors) == 1 and isinstance(errors[0], OSError):
        raise errors[0]
    raise OSError(f"all connection attempts failed: {'; '.join(map(str, errors))}")


def _collect(
    done: set[asyncio.Task[socket.socket]], errors: list[BaseException]
) -> socket.socket | None:
    winner = None
    for task in done:
        error = task.exception()
        if error is not None:
            errors.append(error)
        elif winner is None:
            winner = task.result()
        else:
            task.result().close()  # two finished together: one is enough
    return winner


def _close_late_socket(task: asyncio.Task[socket.socket]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().close()


def _interleave(infos: Sequence[_AddrInfo]) -> list[_AddrInfo]:
    """Alternate address families, the resolver's first family first (RFC 8305)."""
    by_family: dict[int, list[_AddrInfo]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    queues = list(by_family.values())
    ordered: list[_AddrInfo] = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


async def _attempt(loop: asyncio.AbstractEventLoop, address: _AddrInfo) -> socket.socket:
    family, kind, proto, _, sockaddr = address
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock
