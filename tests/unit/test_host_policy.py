"""Which Host and Origin the local server answers (DNS rebinding): pure decisions on scopes."""

from __future__ import annotations

from typing import Any

import pytest

from llm_agg_local.hosts import (
    ALLOWED_CACHE,
    HostGuard,
    HostPolicy,
    authority,
    origin_authority,
)

OPEN = HostPolicy(keyed=False)
KEYED = HostPolicy(keyed=True)
PUBLIC = HostPolicy.from_env(
    True, {"LLM_AGG_ALLOWED_HOSTS": "gw.example.com, api.example.com:8443"}
)


def scope(host: str | None, origin: str | None = None, port: int = 8000) -> dict[str, object]:
    headers = []
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "http", "headers": headers, "server": ("127.0.0.1", port)}


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"]
)
def test_the_open_server_answers_its_loopback_names_on_its_port(host: str) -> None:
    assert OPEN.refusal(scope(host)) is None


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8000",  # a rebound name
        "evil.example",
        "127.0.0.1:9999",  # another port: another server
        "localhost",  # port 80 implied
        "127.0.0.1.nip.io:8000",
        "localhost.:8000",
        "user@localhost:8000",
        "localhost:8000/x",
        "[::1:8000",
        "",
        None,
    ],
)
def test_the_open_server_refuses_any_other_host_with_421(host: str | None) -> None:
    refusal = OPEN.refusal(scope(host))
    assert refusal is not None and refusal.status == 421
    assert refusal.to_dict()["error"]["code"] == "host_not_allowed"


def test_two_host_headers_are_refused() -> None:
    twice = scope("127.0.0.1:8000")
    twice["headers"] = [(b"host", b"127.0.0.1:8000"), (b"host", b"evil.example")]  # type: ignore[index]
    assert OPEN.refusal(twice) is not None


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_the_open_server_takes_its_own_pages(origin: str) -> None:
    assert OPEN.refusal(scope("127.0.0.1:8000", origin)) is None


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example:8000",
        "http://127.0.0.1:3000",  # another local app's page
        "https://127.0.0.1:8000",  # port 8000 is http here; https://… is another origin
        "null",  # sandboxed frames and file:// pages
        "http://localhost:8000/path",
        "",
    ],
)
def test_the_open_server_refuses_foreign_origins_with_403(origin: str) -> None:
    refusal = OPEN.refusal(scope("127.0.0.1:8000", origin))
    assert refusal is not None and refusal.status == 403
    assert refusal.to_dict()["error"]["code"] == "origin_not_allowed"


def test_a_keyed_server_without_names_answers_any_host_but_no_cross_origin_page() -> None:
    assert KEYED.refusal(scope("gw.example.com")) is None
    assert KEYED.refusal(scope("gw.example.com", "https://gw.example.com")) is None
    refusal = KEYED.refusal(scope("gw.example.com", "https://evil.example"))
    assert refusal is not None and refusal.status == 403


def test_a_keyed_server_with_names_answers_only_those_and_loopback() -> None:
    assert PUBLIC.refusal(scope("gw.example.com")) is None
    assert PUBLIC.refusal(scope("gw.example.com:443", "https://gw.example.com")) is None
    assert PUBLIC.refusal(scope("api.example.com:8443")) is None
    assert PUBLIC.refusal(scope("127.0.0.1:8000")) is None
    for host in ("api.example.com", "evil.example", "gw.example.com.evil.example"):
        refused = PUBLIC.refusal(scope(host))
        assert refused is not None and refused.status == 421
    foreign = PUBLIC.refusal(scope("gw.example.com", "https://evil.example"))
    assert foreign is not None and foreign.status == 403


def test_a_bad_allowed_hosts_entry_fails_the_start() -> None:
    with pytest.raises(ValueError, match="LLM_AGG_ALLOWED_HOSTS"):
        HostPolicy.from_env(True, {"LLM_AGG_ALLOWED_HOSTS": "https://gw.example.com/"})


def test_authorities_are_parsed_strictly() -> None:
    assert authority("[::1]:8000") == ("[::1]", 8000)
    assert authority("Example.COM") == ("example.com", None)
    assert authority("example.com:0") is None
    assert authority("example.com:99999") is None
    assert origin_authority("https://example.com") == ("example.com", 443)
    assert origin_authority("ftp://example.com") is None


@pytest.mark.anyio
async def test_a_websocket_from_a_foreign_origin_is_closed_before_the_app() -> None:
    reached: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        reached.append(str(scope["type"]))

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    guard = HostGuard(app, OPEN)  # type: ignore[arg-type]
    foreign = {**scope("127.0.0.1:8000", "http://evil.example"), "type": "websocket"}
    await guard(foreign, None, send)  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1008}] and reached == []
    await guard({**scope("127.0.0.1:8000"), "type": "websocket"}, None, send)  # type: ignore[arg-type]
    assert reached == ["websocket"]


async def _answer(guard: HostGuard, request: dict[str, object]) -> int:
    """The status the guarded app (200) or the guard (its refusal) answers ``request`` with."""
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await guard(request, None, send)  # type: ignore[arg-type]
    return int(str(sent[0]["status"]))


async def _ok(scope: dict[str, object], receive: object, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


@pytest.mark.anyio
async def test_the_guard_remembers_only_what_it_allowed_and_never_lets_a_refusal_through() -> None:
    guard = HostGuard(_ok, OPEN)  # type: ignore[arg-type]
    assert await _answer(guard, scope("127.0.0.1:8000")) == 200
    assert await _answer(guard, scope("127.0.0.1:8000")) == 200  # remembered
    # The same Host, but from a foreign page, over https, or to another port: each refused.
    assert await _answer(guard, scope("127.0.0.1:8000", "http://evil.example")) == 403
    assert await _answer(guard, scope("127.0.0.1:8000", "https://127.0.0.1:8000")) == 403
    assert await _answer(guard, scope("127.0.0.1:8000", port=9000)) == 421
    assert await _answer(guard, {**scope("127.0.0.1:8000"), "scheme": "https"}) == 200
    assert await _answer(guard, scope("evil.example:8000")) == 421
    assert await _answer(guard, scope("evil.example:8000")) == 421  # refused again, not kept
    # Two Host headers, the first an allowed one: ambiguous, refused even once it is known.
    twice = scope("127.0.0.1:8000")
    twice["headers"] = [(b"host", b"127.0.0.1:8000"), (b"host", b"evil.example")]
    assert await _answer(guard, twice) == 421


@pytest.mark.anyio
async def test_the_guards_memory_is_bounded_and_forgets_nothing_it_must_refuse() -> None:
    guard = HostGuard(_ok, KEYED)  # type: ignore[arg-type]  # a keyed server answers any Host
    for n in range(ALLOWED_CACHE * 3):
        assert await _answer(guard, scope(f"h{n}.example:8000")) == 200
        assert len(guard._allowed) <= ALLOWED_CACHE
    # A keyed server without a list of names still refuses another site's page.
    for _ in range(2):
        assert await _answer(guard, scope("h1.example:8000", "http://evil.example")) == 403


@pytest.mark.anyio
async def test_in_front_of_the_path_router_the_guard_serves_as_the_router_would() -> None:
    """The guard calls a router's app for the path itself (a layer less, issue 17): each path
    reaches the app the router gives it, refusals still stop there, the lifespan is the
    router's."""
    from llm_agg_local.server import PathRouter

    reached: list[str] = []

    def app(name: str) -> Any:
        async def serve(scope: dict[str, object], receive: object, send: Any) -> None:
            reached.append(name)
            await send({"type": "http.response.start", "status": 200, "headers": []})

        return serve

    started: list[bool] = []

    async def startup() -> None:
        started.append(True)

    routes = [("/v1", app("chat")), ("/v1/agents", app("agent")), ("/health", app("health"))]
    router = PathRouter(None, routes, fallback=app("fallback"), startup=startup)  # type: ignore[arg-type]
    guard = HostGuard(router, OPEN)
    for path, name in [
        ("/v1/chat/completions", "chat"),
        ("/v1/agents/x", "agent"),
        ("/health", "health"),
        ("/elsewhere", "fallback"),
        ("/v1/chat/completions", "chat"),
    ]:
        assert await _answer(guard, {**scope("127.0.0.1:8000"), "path": path}) == 200
        assert reached[-1] == name
    assert await _answer(guard, {**scope("evil.example:8000"), "path": "/v1/models"}) == 421
    assert len(reached) == 5
    messages = [{"type": "lifespan.startup"}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    lifespan = {"type": "lifespan"}
    with pytest.raises(IndexError):  # the router's lifespan loop asks for the next message
        await guard(lifespan, receive, send)  # type: ignore[arg-type]
    assert started == [True] and sent == [{"type": "lifespan.startup.complete"}]
