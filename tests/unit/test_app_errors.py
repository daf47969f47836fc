"""Every app answers an endpoint's failure as Starlette's own stack does with the same handlers:
the gateway's error as itself, an HTTP error OpenAI-shaped, a crash as a 500 that is logged
and raised again, and an error once a stream has started as a crash (never a second answer).
The routes of a fixed path are served without that stack (``apps/fixed_routes.py``): every
case is asked of both, on fixed paths and on paths with parameters (still Starlette's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from llm_agg.api.errors import GatewayError, RateLimited
from llm_agg.apps.base import EXCEPTION_HANDLERS, new_app, route
from llm_agg.apps.fixed_routes import FixedRoutes, fixed_routes, new_request


async def answers(_: Request) -> Response:
    return Response(b"{}", media_type="application/json")


async def refuses(_: Request) -> Response:
    raise RateLimited("Slow down.", headers={"retry-after": "3"})


async def not_found(_: Request) -> Response:
    raise HTTPException(404, "Nothing here.")


async def crashes(_: Request) -> Response:
    raise ValueError("a bug")


async def fails_midway(_: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        raise GatewayError("Gone.", status=502)

    return StreamingResponse(body(), media_type="text/event-stream")


async def fails_after_start(_: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        raise ValueError("a bug midway")

    return StreamingResponse(body(), media_type="text/event-stream")


async def shows_scope(request: Request) -> Response:
    """What the endpoint finds in its scope beside the request's own (the app itself aside)."""
    scope = request.scope
    seen = {
        "route": scope["route"].path,
        "endpoint": scope["endpoint"].__name__,
        "path_params": scope["path_params"],
        "router": type(scope["router"]).__name__,
        "handlers": sorted(h.__name__ for h in scope["starlette.exception_handlers"][0]),
        "app": type(scope["app"]).__name__ in ("Starlette", "FixedRoutesApp"),
        "method": request.method,
    }
    return Response(repr(sorted(seen.items())).encode(), media_type="text/plain")


def sync_endpoint(_: Request) -> Response:
    return Response(b"sync", media_type="text/plain")


ENDPOINTS = (answers, refuses, not_found, crashes, fails_midway, fails_after_start, shows_scope)


def routes() -> list[BaseRoute]:
    made: list[BaseRoute] = [Route(f"/{e.__name__}", e, methods=["POST"]) for e in ENDPOINTS]
    made += [Route("/p/{name}/" + e.__name__, e, methods=["POST"]) for e in ENDPOINTS]
    made += [
        Route("/get", shows_scope, methods=["GET"]),  # HEAD too, as Starlette adds it
        route("/get_only", shows_scope, "GET"),  # no HEAD
        Route("/two", answers, methods=["POST"]),
        Route("/two", shows_scope, methods=["GET", "DELETE"]),
        Route("/c/{anything}", shows_scope, methods=["PUT"]),  # before a fixed path it covers
        Route("/c/covered", answers, methods=["PUT", "POST"]),
        Route("/sync", sync_endpoint, methods=["POST"]),
    ]
    return made


def starlettes() -> Starlette:
    """The same routes and handlers, as Starlette builds them."""
    app = Starlette(routes=routes(), exception_handlers=EXCEPTION_HANDLERS)
    app.router.redirect_slashes = False
    return app


Sent = list[dict[str, Any]]


class Cycle:
    """A server's request cycle that says whether its answer has started, as uvicorn's does."""

    def __init__(self) -> None:
        self.sent: Sent = []
        self.response_started = False

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
        self.sent.append(message)


def call(
    app: Any, path: str, method: str = "POST", cycle: Cycle | None = None
) -> tuple[Sent, str | None]:
    """The messages the app sent, and the exception it raised (its type's name), if any; sent
    to ``cycle`` when one is given, else to a plain function."""
    sent: list[dict[str, Any]] = [] if cycle is None else cycle.sent

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def plain(message: dict[str, Any]) -> None:
        sent.append(message)

    send = plain if cycle is None else cycle.send

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
    }
    try:
        asyncio.run(app(scope, receive, send))
    except Exception as exc:
        return sent, type(exc).__name__
    return sent, None


CASES = [
    ("/answers", "POST", 200, None),
    ("/refuses", "POST", 429, None),
    ("/not_found", "POST", 404, None),
    ("/crashes", "POST", 500, "ValueError"),
    ("/fails_midway", "POST", 200, "RuntimeError"),
    ("/fails_after_start", "POST", 200, "ValueError"),
    ("/shows_scope", "POST", 200, None),
    ("/answers", "GET", 405, None),
    ("/nowhere", "POST", 404, None),
]


@pytest.mark.parametrize(("path", "method", "status", "raised"), CASES)
@pytest.mark.parametrize("prefix", ["", "/p/x"])
@pytest.mark.parametrize("to_cycle", [False, True], ids=["plain send", "a cycle's send"])
def test_an_endpoints_failure_is_answered_as_starlette_answers_it(
    prefix: str, path: str, method: str, status: int, raised: str | None, to_cycle: bool
) -> None:
    app = new_app(cast(Any, object()), routes())
    ours = call(app, prefix + path, method, Cycle() if to_cycle else None)
    assert ours == call(starlettes(), prefix + path, method)
    sent, error = ours
    assert (sent[0]["status"], error) == (status, raised)
    if status >= 400:
        assert b'"error"' in sent[1]["body"]


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/get", "GET", 200),
        ("/get", "HEAD", 200),
        ("/get_only", "HEAD", 405),
        ("/two", "POST", 200),
        ("/two", "DELETE", 200),
        ("/two", "PUT", 405),
        ("/c/covered", "PUT", 200),  # the route of a parameter, listed first, answers it
        ("/c/covered", "POST", 200),
        ("/sync", "POST", 200),
        ("/answers/", "POST", 404),  # no trailing-slash redirect
    ],
)
def test_routes_are_chosen_as_starlette_chooses_them(path: str, method: str, status: int) -> None:
    ours = call(new_app(cast(Any, object()), routes()), path, method)
    assert ours == call(starlettes(), path, method)
    assert ours[0][0]["status"] == status


def test_a_crash_is_logged_once_saying_what_it_was(caplog: pytest.LogCaptureFixture) -> None:
    call(new_app(cast(Any, object()), routes()), "/crashes")
    crashes = [r for r in caplog.records if r.name == "llm_agg.apps"]
    assert [r.getMessage() for r in crashes] == ["unhandled error: ValueError"]


def test_only_routes_of_a_fixed_path_and_their_methods_go_past_starlettes_stack() -> None:
    app = new_app(cast(Any, object()), routes())
    assert isinstance(app.build_middleware_stack(), FixedRoutes)
    table = {path: sorted(by_method) for path, by_method in fixed_routes(app.router).items()}
    assert table == {
        **{f"/{e.__name__}": ["POST"] for e in ENDPOINTS},
        "/get": ["GET", "HEAD"],
        "/get_only": ["GET"],
        "/two": ["DELETE", "GET", "HEAD", "POST"],
        "/c/covered": ["POST"],  # PUT is the route of a parameter's, listed before it
        "/sync": ["POST"],
    }


def test_an_app_with_middleware_of_its_own_keeps_starlettes_stack() -> None:
    app = new_app(cast(Any, object()), routes())
    app.add_middleware(GZipMiddleware)
    assert not isinstance(app.build_middleware_stack(), FixedRoutes)
    assert call(app, "/fails_midway") == call(starlettes(), "/fails_midway")


def test_a_request_made_without_its_init_is_starlettes_own() -> None:
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}"}

    async def send(message: Any) -> None:
        return None

    made = new_request(scope, receive, send)
    assert type(made) is Request
    assert vars(made) == vars(Request(scope, receive, send))
    assert made.receive is receive and made.scope is scope


def test_a_fixed_route_sends_to_a_cycle_that_says_it_started_without_a_wrapper() -> None:
    """Its every message straight to the server's cycle (one coroutine layer less a chunk);
    to a plain send, through a wrapper that notes the start."""
    sends: list[Any] = []

    async def notes(request: Request) -> Response:
        sends.append(request._send)
        return Response(b"{}", media_type="application/json")

    app = new_app(cast(Any, object()), [Route("/notes", notes, methods=["POST"])])
    cycle = Cycle()
    call(app, "/notes", "POST", cycle)
    call(app, "/notes", "POST")
    assert getattr(sends[0], "__self__", None) is cycle
    assert getattr(sends[1], "__self__", None) is None and sends[1] is not cycle.send
    assert cycle.sent[0]["status"] == 200


def test_on_lambda_the_send_is_wrapped_and_the_body_received() -> None:
    """Mangum's cycle says nothing of its answer's start and offers no body whole: a fixed
    route there notes the start itself and reads the body with receive(), as ASGI says."""
    from mangum.protocols.http import HTTPCycle

    from llm_agg.api.arrived import TAKE

    cycle = HTTPCycle({"type": "http", "method": "POST", "headers": []}, b"{}")
    assert not hasattr(cycle, "response_started") and not hasattr(cycle, TAKE)
