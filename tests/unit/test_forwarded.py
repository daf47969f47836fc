"""What a proxy on this machine forwards is read as uvicorn's ProxyHeadersMiddleware reads it
(the server runs without that middleware): the same client and scheme for every request."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from llm_agg_local.forwarded import ALLOW_DEFAULT, Forwarded
from llm_agg_local.hosts import HostGuard, HostPolicy, asked

CLIENTS = [("127.0.0.1", 50000), ("::1", 50000), ("203.0.113.9", 50000), None]
PROTOS = [None, b"https", b" http ", b"wss", b"ftp", b""]
FORS = [
    [],
    [b"203.0.113.7"],
    [b"203.0.113.7, 127.0.0.1"],
    [b"198.51.100.1", b"203.0.113.7:4000"],
    [b"127.0.0.1, ::1"],
    [b"[2001:db8::1]:443"],
    [b""],
    [b"not an address"],
]
TRUSTED = [ALLOW_DEFAULT, "*", "10.0.0.0/8,127.0.0.1", "unix-socket-literal"]


def scope(kind: str, client: Any, proto: bytes | None, fors: list[bytes]) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000")]
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto))
    headers += [(b"x-forwarded-for", value) for value in fors]
    return {
        "type": kind,
        "scheme": "http" if kind == "http" else "ws",
        "client": client,
        "server": ("127.0.0.1", 8000),
        "headers": headers,
    }


def by_uvicorn(made: dict[str, Any], trusted: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    asyncio.run(ProxyHeadersMiddleware(app, trusted_hosts=trusted)(made, None, None))  # type: ignore[arg-type]
    return seen


@pytest.mark.parametrize("trusted", TRUSTED)
@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_client_and_scheme_are_what_uvicorns_middleware_makes_of_them(
    trusted: str, kind: str
) -> None:
    forwarded = Forwarded(trusted)
    for client, proto, fors in itertools.product(CLIENTS, PROTOS, FORS):
        ours = scope(kind, client, proto, fors)
        asked(ours, forwarded)  # the Host guard's one pass, as it serves
        theirs = by_uvicorn(scope(kind, client, proto, fors), trusted)
        assert (ours["client"], ours["scheme"]) == (theirs["client"], theirs["scheme"]), (
            client,
            proto,
            fors,
        )


def test_the_trusted_addresses_come_from_uvicorns_setting() -> None:
    made = scope("http", ("10.1.2.3", 1), b"https", [b"203.0.113.7"])
    asked(made, Forwarded.from_env({}))
    assert made["client"] == ("10.1.2.3", 1)  # not trusted by default
    asked(made, Forwarded.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}))
    assert (made["client"], made["scheme"]) == (("203.0.113.7", 0), "https")


@pytest.mark.anyio
async def test_the_guard_judges_the_scheme_the_proxy_forwarded() -> None:
    """The open server speaks http: an https page is another origin, unless a proxy on this
    machine says the request came to it over https."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        sent.append({"type": "http.response.start", "status": 200})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    guard = HostGuard(app, HostPolicy(keyed=False), Forwarded(ALLOW_DEFAULT))
    page = scope("http", ("127.0.0.1", 5), None, [])
    page["headers"].append((b"origin", b"https://127.0.0.1:8000"))
    await guard(page, None, send)  # type: ignore[arg-type]
    proxied = scope("http", ("127.0.0.1", 5), b"https", [])
    proxied["headers"].append((b"origin", b"https://127.0.0.1:8000"))
    await guard(proxied, None, send)  # type: ignore[arg-type]
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [403, 200]


@pytest.mark.parametrize("policy", [HostPolicy(keyed=False), HostPolicy(keyed=True)])
def test_the_guard_with_forwarded_is_uvicorns_middleware_around_the_guard(
    policy: HostPolicy,
) -> None:
    """Every mix of client, X-Forwarded-Proto and -For, from a page of either scheme: the same
    answer, and the app sees the same client and scheme."""

    def served(app: Any, made: dict[str, Any]) -> tuple[Any, ...]:
        seen: dict[str, Any] = {}
        sent: list[Any] = []

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            seen.update(client=scope["client"], scheme=scope["scheme"])

        async def send(message: Any) -> None:
            sent.append(message.get("status") or message.get("code"))

        asyncio.run(app(inner)(made, None, send))
        return seen.get("client"), seen.get("scheme"), sent

    def ours(inner: Any) -> Any:
        return HostGuard(inner, policy, Forwarded(ALLOW_DEFAULT))

    def theirs(inner: Any) -> Any:
        return ProxyHeadersMiddleware(HostGuard(inner, policy), trusted_hosts=ALLOW_DEFAULT)

    origins = [None, b"http://127.0.0.1:8000", b"https://127.0.0.1:8000"]
    for kind, client, proto, fors, origin in itertools.product(
        ["http", "websocket"], CLIENTS, PROTOS, FORS[:4], origins
    ):
        made = [scope(kind, client, proto, fors) for _ in range(2)]
        if origin is not None:
            for one in made:
                one["headers"].append((b"origin", origin))
        assert served(ours, made[0]) == served(theirs, made[1]), (kind, client, proto, fors)
