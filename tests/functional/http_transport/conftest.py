from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from llm_agg.http_transport import UpstreamClient, UpstreamTransport

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(params=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Each test on asyncio's loop and on uvloop's, the one the gateway serves on (its
    transports are not asyncio's classes, and its create_connection takes fewer options)."""
    return "asyncio", {"use_uvloop": request.param == "uvloop"}


@pytest.fixture
def upstream() -> Client:
    """The gateway's client (``UpstreamClient``) on the upstream transport:
    ``upstream(max_connections=2, timeout=0.5)`` (limits and the transport's ``ssl_context`` go
    to the transport, the rest to the client)."""

    @asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
        limits = {
            name: options.pop(name)
            for name in ("max_connections", "max_keepalive_connections", "keepalive_expiry")
            if name in options
        }
        transport = UpstreamTransport(
            limits=httpx.Limits(**limits), ssl_context=options.pop("ssl_context", None)
        )
        timeout = options.pop("timeout", 5.0)
        async with UpstreamClient(
            timeout=timeout, limits=httpx.Limits(), transport=transport, **options
        ) as client:
            yield client

    return make


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    yield


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: a connection to it is never accepted (SYN dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        yield port
    finally:
        filler.close()
        listener.close()
