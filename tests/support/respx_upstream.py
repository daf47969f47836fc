"""respx, taught the gateway's own upstream transport.

respx's default mocker patches httpcore's connection pool, which the gateway's client no longer
goes through (``llm_agg.http_transport``). This mocker patches what respx patched before and
``UpstreamTransport.handle_async_request`` too, so a ``respx.mock`` test still runs the client
the runtime really builds (its timeouts, limits, headers, the transport's entry) and only the
network is replaced. ``tests/conftest.py`` makes it respx's default.
"""

from __future__ import annotations

from typing import Any

import httpx
from respx.mocks import HTTPCoreMocker

from llm_agg.http_transport import UpstreamTransport


class UpstreamMocker(HTTPCoreMocker):
    name = "upstream"
    targets = [
        *HTTPCoreMocker.targets,
        f"{UpstreamTransport.__module__}.{UpstreamTransport.__qualname__}",
    ]

    @classmethod
    def to_httpx_request(cls, **kwargs: Any) -> Any:
        request = kwargs["request"]
        if isinstance(request, httpx.Request):  # our transport is handed httpx's request as is
            return request
        return super().to_httpx_request(**kwargs)

    @classmethod
    async def from_async_httpx_response(
        cls, httpx_response: httpx.Response, target: Any, **kwargs: Any
    ) -> Any:
        if isinstance(target, UpstreamTransport):
            return httpx.Response(
                status_code=httpx_response.status_code,
                headers=httpx_response.headers.raw,
                stream=httpx_response.stream,
                extensions=httpx_response.extensions,
            )
        return await super().from_async_httpx_response(httpx_response, target, **kwargs)
