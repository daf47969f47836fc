"""``upstream_client``: the gateway's pooled client, on the upstream transport unless the
environment names a proxy (httpx's proxy transports then carry what they did before); and
the connect step trying a host's next address when the first does not answer."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from llm_agg.http_transport import UpstreamTransport, upstream_client
from tests.fakes.raw_http import answer, keep_answering, raw_server
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio

LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)


@pytest.mark.usefixtures("no_proxy_env")
async def test_a_proxied_url_still_goes_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with raw_server(keep_answering(answer(b"via proxy"))) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        async with upstream_client(timeout=httpx.Timeout(5.0), limits=LIMITS) as client:
            response = await client.get("http://provider.test/v1/models")
    assert response.text == "via proxy"
    assert proxy.requests[0].startswith(b"GET http://provider.test/v1/models HTTP/1.1")


@pytest.mark.usefixtures("no_proxy_env")
async def test_without_a_proxy_the_client_is_on_the_upstream_transport() -> None:
    async with (
        raw_server(keep_answering()) as server,
        upstream_client(timeout=httpx.Timeout(5.0), limits=LIMITS) as client,
    ):
        assert isinstance(client._transport, UpstreamTransport)
        for _ in range(3):
            assert (await client.get(server.url())).text == "hello"
    assert server.connections == 1


async def test_a_host_whose_first_address_hangs_is_reached_at_the_next(
    upstream: Client, full_backlog: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with raw_server(keep_answering()) as server:
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo

        async def two_addresses(host: Any, port: Any, **options: Any) -> list[Any]:
            if host != "two-addresses.test":  # uvloop resolves through it too
                return await resolve(host, port, **options)
            tcp = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
            return [(*tcp, ("127.0.0.1", full_backlog)), (*tcp, ("127.0.0.1", server.port))]

        monkeypatch.setattr(loop, "getaddrinfo", two_addresses)
        async with upstream(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
            response = await client.get("http://two-addresses.test/")
    assert response.text == "hello"
