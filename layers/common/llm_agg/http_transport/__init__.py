"""The gateway's HTTP client to providers: httpx's API over a lighter transport.

httpcore's pool walked every pooled connection on each request (~560 µs a request at 32
connections, issue 17); ``UpstreamTransport`` checks one out in O(1) and parses with httptools.
``upstream_client`` makes the one pooled ``httpx.AsyncClient`` a process keeps: an
``UpstreamClient`` (no cookie jar, a direct ``send``).
"""

from __future__ import annotations

import urllib.request

import httpx

from llm_agg.http_transport.client import UpstreamClient
from llm_agg.http_transport.transport import UpstreamTransport

__all__ = ["UpstreamClient", "UpstreamTransport", "upstream_client"]


def upstream_client(*, timeout: httpx.Timeout, limits: httpx.Limits) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on ``UpstreamTransport``, unless the environment names a proxy:
    httpx only mounts its proxy transports (and honours ``NO_PROXY``) for a client made
    without a transport, so such a client keeps httpx's own transports throughout."""
    if _environment_proxies():
        return UpstreamClient(timeout=timeout, limits=limits)
    return UpstreamClient(
        timeout=timeout, limits=limits, transport=UpstreamTransport(limits=limits)
    )


def _environment_proxies() -> bool:
    # What httpx reads for its proxy mounts (``get_environment_proxies``).
    found = urllib.request.getproxies()
    return any(found.get(scheme) for scheme in ("http", "https", "all"))
