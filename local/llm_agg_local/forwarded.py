"""What a proxy on this machine says of a request's client: ``X-Forwarded-For`` and
``X-Forwarded-Proto``, believed only from the addresses in ``FORWARDED_ALLOW_IPS`` (uvicorn's
setting and default: 127.0.0.1 and ::1).

This is uvicorn's ``ProxyHeadersMiddleware`` done inside the Host guard's call rather than as
one more ASGI layer around it (~2 µs a request): the same trust (uvicorn's own ``_TrustedHosts``),
the same rewriting of ``scope["client"]`` and ``scope["scheme"]``, before anything reads them.
The admin-key slow-down counts failures per client address (README, "Behind a reverse proxy").
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from starlette.types import Scope
from uvicorn.middleware.proxy_headers import _TrustedHosts

ALLOW_ENV = "FORWARDED_ALLOW_IPS"
ALLOW_DEFAULT = "127.0.0.1,::1"
SCHEMES = frozenset({"http", "https", "ws", "wss"})


class Forwarded:
    def __init__(self, trusted: str) -> None:
        self.trusted = _TrustedHosts(trusted)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Forwarded:
        return cls(environ.get(ALLOW_ENV, ALLOW_DEFAULT))

    def use(self, scope: Scope, proto: bytes | None, hops: list[bytes]) -> None:
        """``scope``'s client and scheme as a trusted proxy gave them (an http or websocket
        scope), as ``ProxyHeadersMiddleware`` sets them: from the request's last
        ``X-Forwarded-Proto`` and its ``X-Forwarded-For`` values in order, read by the caller
        (the Host guard reads them with Host and Origin, ``hosts.asked``)."""
        if proto is None and not hops:
            return  # nothing forwarded (nearly every request): no one's word to weigh
        client = scope.get("client")
        if (client[0] if client else None) not in self.trusted:
            return
        if proto is not None:
            scheme = proto.decode("latin1").strip()
            if scheme in SCHEMES:
                if scope["type"] == "websocket":
                    scheme = scheme.replace("http", "ws")
                scope["scheme"] = scheme
        if hops:
            host, port = self.trusted.get_trusted_client_address(b", ".join(hops).decode("latin1"))
            if host:  # an empty X-Forwarded-For names nobody: the client stays
                scope["client"] = (host, port)
