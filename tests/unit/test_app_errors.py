"""Every app answers an endpoint's failure as Starlette's own stack does with the same handlers:
the gateway's error as itself, an HTTP error OpenAI-shaped, a crash as a 500 that is logged
and raised again, and an error once a stream has started as a crash (never a second answer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from llm_agg.api.errors import GatewayError, RateLimited
from llm_agg.apps.base import EXCEPTION_HANDLERS, new_app


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


def routes() -> list[Route]:
    endpoints = (answers, refuses, not_found, crashes, fails_midway)
    return [Route(f"/{e.__name__}", e, methods=["POST"]) for e in endpoints]


def starlettes() -> Starlette:
    """The same routes and handlers, as Starlette builds them."""
    app = Starlette(routes=routes(), exception_handlers=EXCEPTION_HANDLERS)
    app.router.redirect_slashes = False
    return app


def call(app: Any, path: str, method: str = "POST") -> tuple[list[dict[str, Any]], str | None]:
    """The messages the app sent, and the exception it raised (its type's name), if any."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

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


@pytest.mark.parametrize(
    ("path", "method", "status", "raised"),
    [
        ("/answers", "POST", 200, None),
        ("/refuses", "POST", 429, None),
        ("/not_found", "POST", 404, None),
        ("/crashes", "POST", 500, "ValueError"),
        ("/fails_midway", "POST", 200, "RuntimeError"),
        ("/answers", "GET", 405, None),
        ("/nowhere", "POST", 404, None),
    ],
)
def test_an_endpoints_failure_is_answered_as_starlette_answers_it(
    path: str, method: str, status: int, raised: str | None
) -> None:
    ours = call(new_app(cast(Any, object()), routes()), path, method)
    assert ours == call(starlettes(), path, method)
    sent, error = ours
    assert (sent[0]["status"], error) == (status, raised)
    if status >= 400:
        assert b'"error"' in sent[1]["body"]
