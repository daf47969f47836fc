"""Which ``Host`` and ``Origin`` the local server answers: its defence against DNS rebinding.

A page on ``evil.example`` can rebind its name to 127.0.0.1: the browser then sends it to the
open loopback server as same-origin, with ``Host: evil.example``. So the open server answers
only its loopback names (``localhost``, ``127.0.0.1``, ``[::1]``) on its own port, and refuses
a request whose ``Origin`` is any other page (421 for a foreign Host, 403 for a foreign Origin).

A keyed server is reached by its public names: ``LLM_AGG_ALLOWED_HOSTS`` (names separated by
commas, each optionally with ``:port``) lists them, and then nothing else is answered. Without
that list a keyed server answers any Host (its key is the guard) but still refuses an Origin
that is not the Host it was sent to: it grants no cross-origin use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from llm_agg.api.errors import GatewayError, PermissionDenied
from llm_agg.memo import Memo
from llm_agg_local.forwarded import Forwarded

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
ALLOWED_HOSTS_ENV = "LLM_AGG_ALLOWED_HOSTS"
DEFAULT_PORTS = {"http": 80, "https": 443}

Authority = tuple[str, int | None]  # a lower-case host name and the port, when one was given
# An ASGI app's call as a plain function: the awaitable that serves the request.
Serving = Callable[[Scope, Receive, Send], Awaitable[None]]


def authority(value: str) -> Authority | None:
    """``host[:port]`` split, or None when it is not one (a path, user info, a bad port)."""
    value = value.strip().lower()
    if not value or any(c in value for c in "/@?#\\ \t"):
        return None
    if value.startswith("["):
        name, bracket, rest = value.partition("]")
        name += bracket
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    else:
        name, colon, port_text = value.partition(":")
        port = port_text if colon else None
    if port is None:
        return name, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return name, int(port)


def origin_authority(origin: str) -> Authority | None:
    """The ``host[:port]`` of an ``Origin`` header, its port made explicit from the scheme."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in DEFAULT_PORTS or parts.path or parts.query or parts.fragment:
        return None
    found = authority(parts.netloc)
    if found is None:
        return None
    return found[0], found[1] if found[1] is not None else DEFAULT_PORTS[parts.scheme]


@dataclass(frozen=True)
class HostPolicy:
    keyed: bool
    names: tuple[Authority, ...] = ()  # the configured public names of a keyed server

    @classmethod
    def from_env(cls, keyed: bool, environ: Mapping[str, str]) -> HostPolicy:
        raw = environ.get(ALLOWED_HOSTS_ENV, "")
        names = []
        for item in raw.split(","):
            if not item.strip():
                continue
            found = authority(item)
            if found is None:
                raise ValueError(f"{ALLOWED_HOSTS_ENV}: {item.strip()!r} is not a host[:port]")
            names.append(found)
        return cls(keyed, tuple(names))

    def allows(self, host: Authority, server_port: int | None) -> bool:
        name, port = host
        if name in LOOPBACK_NAMES and (port or 80) == server_port:
            return True
        if not self.keyed:
            return False
        if not self.names:
            return True
        return any(n == name and (p is None or p == port) for n, p in self.names)

    def refusal(self, scope: Scope) -> GatewayError | None:
        """Why this request is not answered here, or None."""
        return self.judge(*asked(scope))

    def judge(
        self, host_header: str, origin: str | None, server_port: int | None, scheme: str
    ) -> GatewayError | None:
        """``refusal`` from what it reads of a request: nothing else decides it."""
        host = authority(host_header)
        if host is None or not self.allows(host, server_port):
            return GatewayError(
                "This server does not answer for that Host name"
                + ("." if self.keyed else ": use http://127.0.0.1 or http://localhost."),
                status=421,
                type="invalid_request_error",
                code="host_not_allowed",
            )
        if origin is None:
            return None
        sent_from = origin_authority(origin)
        # The open server speaks plain http: an https:// page is another origin.
        same_scheme = self.keyed or origin.strip().lower().startswith(scheme + "://")
        if (
            sent_from is None
            or not same_scheme
            or not self._origin_ok(sent_from, host, server_port)
        ):
            return PermissionDenied(
                "Requests from other web pages are refused.", code="origin_not_allowed"
            )
        return None

    def _origin_ok(self, origin: Authority, host: Authority, server_port: int | None) -> bool:
        if self.keyed and not self.names:
            return origin[0] == host[0]  # same site as the Host the request was sent to
        return self.allows(origin, server_port)


Asked = tuple[str, str | None, int | None, str]  # Host, Origin, the server's port, scheme
ALLOWED_CACHE = 256  # allowed (Host, Origin, port, scheme) values remembered; then forgotten


def asked(scope: Scope, forwarded: Forwarded | None = None) -> Asked:
    """What the policy reads of a request: its Host and Origin, its server's port, scheme.
    Two Host or two Origin headers are ambiguous: read as an empty one, so refused. With
    ``forwarded``, what a trusted proxy says of the client and scheme is applied to ``scope``
    first (read in the same pass over the headers)."""
    host: str | None = None
    origin: str | None = None
    proto: bytes | None = None
    hops: list[bytes] = []
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = "" if host is not None else value.decode("latin-1")
        elif name == b"origin":
            origin = "" if origin is not None else value.decode("latin-1")
        elif forwarded is None:
            continue
        elif name == b"x-forwarded-proto":
            proto = value
        elif name == b"x-forwarded-for":
            hops.append(value)
    if forwarded is not None and (proto is not None or hops):  # nearly every request: neither
        forwarded.use(scope, proto, hops)
    server = scope.get("server")
    return (host or "", origin, server[1] if server else None, scope.get("scheme", "http"))


class HostGuard:
    """ASGI middleware refusing what ``policy`` does not answer, before any route runs; with
    ``forwarded``, it first takes a trusted proxy's word for the client's address and scheme.

    An ASGI 3 app whose call is a plain function returning the awaitable that serves the
    request (its app's own, or its refusal): so it is no coroutine of its own between the
    server's and its app's, on the way in and at every resumption of the request's task. A
    server that guesses the interface from the call (uvicorn) must be told ``asgi3``."""

    def __init__(
        self, app: ASGIApp, policy: HostPolicy, forwarded: Forwarded | None = None
    ) -> None:
        self.app = app
        self.policy = policy
        # What a trusted proxy says of the client, applied first (uvicorn's proxy_headers).
        self.forwarded = forwarded
        # The policy is fixed and its verdict a function of what it reads alone, so an allowed
        # value is remembered (a client sends the same Host for ever): no parse a request.
        # Only allowed ones: a refusal is worked out again each time. Bounded: cleared when full.
        self._allowed: Memo[Asked, None] = Memo(ALLOWED_CACHE)
        # In front of a router by path (``server.PathRouter``), what serves the request's path
        # is called straight away, as the router's own call would: a layer less on the way in
        # and on each resumption of the request's task.
        self._serving_for: Callable[[str], Serving] | None = getattr(app, "serving_for", None)

    def refusal(self, scope: Scope) -> GatewayError | None:
        """``policy.refusal(scope)``, from the allowed values already seen when it is one (and
        with ``forwarded``, once what a trusted proxy forwarded is applied to ``scope``)."""
        return self._verdict(asked(scope, self.forwarded))

    def _verdict(self, question: Asked) -> GatewayError | None:
        if question in self._allowed:
            return None
        refusal = self.policy.judge(*question)
        if refusal is None:
            self._allowed.keep(question, None)
        return refusal

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            question = asked(scope, self.forwarded)
            if question not in self._allowed:  # refusal's, without the call when allowed
                refusal = self._verdict(question)
                if refusal is not None:
                    return _refuse(kind, refusal, send)
            if self._serving_for is not None:
                return self._serving_for(scope.get("path", ""))(scope, receive, send)
        return self.app(scope, receive, send)


async def _refuse(kind: str, refusal: GatewayError, send: Send) -> None:
    if kind == "websocket":
        # Browsers apply no CORS to WebSockets: the Origin check is all there is.
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": refusal.body()})
