"""What every app shares: OpenAI-shaped errors for everything, including 404s and crashes.

The apps are plain Starlette: importing FastAPI is ~230 ms of a Lambda cold start and its
middleware (exit stack, telemetry) runs on every request, for features (dependency injection,
generated docs) these routes do not use. Only the admin app, whose routes take typed
parameters, is FastAPI (``apps/admin.py``), with the same handlers and lifespan as these.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llm_agg.api.arrived import TAKE
from llm_agg.api.errors import GatewayError
from llm_agg.apps.fixed_routes import Calling, FixedRoutesApp

if TYPE_CHECKING:
    from llm_agg.runtime import Runtime

log = logging.getLogger("llm_agg.apps")

# A route's endpoint: a Request (or a WebSocket) in, a Response (or nothing) out.
Endpoint = Callable[[Any], Awaitable[Any]]


def error_response(error: GatewayError) -> Response:
    return Response(
        error.body(),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


async def _gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found" if exc.status_code == 404 else None
    return error_response(
        GatewayError(
            str(exc.detail), status=exc.status_code, type="invalid_request_error", code=kind
        )
    )


async def _crash(_: Request, exc: Exception) -> Response:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return error_response(
        GatewayError("The gateway failed on this request.", code="internal_error")
    )


def header(request: Request, name: bytes) -> str:
    """The first ``name`` header (a lower-case name, as ASGI gives them), "" when absent: what
    ``request.headers.get(name, "")`` answers, without building Starlette's ``Headers`` and
    the KeyError its ``get`` raises inside for each absent header (1 to 2 µs a lookup)."""
    headers: Iterable[tuple[bytes, bytes]] = request.scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


def two_headers(request: Request, one: bytes, other: bytes) -> tuple[bytes | None, bytes | None]:
    """The raw first ``one`` and first ``other`` header (None when absent), as ``header``
    finds each, in one pass over the headers."""
    first: bytes | None = None
    second: bytes | None = None
    for name, value in request.scope["headers"]:
        if name == one:
            if first is None:
                first = value
        elif name == other and second is None:
            second = value
    return first, second


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 once it passes ``limit`` bytes: chunked bodies declare no length, so
    the bound is kept while reading, not only checked against ``content-length``.

    Read from ``receive`` as ``request.stream()`` reads it (and noted on the request as it
    notes it), without that async generator: its making, the event loop's registry of async
    generators (a ``WeakSet``'s Python code, in and out) and its closing cost ~10 µs of a
    request's CPU on a cold vCPU (issue 17)."""
    whole = _at_hand(request, limit, header(request, b"content-length"))
    return whole if whole is not None else await _received(request, limit)


def _at_hand(request: Request, limit: int, declared: str) -> bytes | None:
    """``read_body``'s checks (its ``content-length`` header ``declared``, "" for none), and
    the body when it needs no ``receive()``: read already, or offered whole by its server
    (``llm_agg.api.arrived``). None: ``_received`` reads it. A plain call, not a coroutine:
    the usual request awaits none (~1.5 µs a coroutine layer on a cold vCPU, issue 17)."""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    read: bytes | None = getattr(request, "_body", None)  # a body something already read
    if read is not None:
        if len(read) > limit:
            raise _too_large()
        return read
    if request._stream_consumed:
        raise RuntimeError("Stream consumed")  # as request.stream() says it: read twice
    receive = request._receive  # Request.receive's, without the property's call
    # A body its server holds whole already (llm_agg.api.arrived): taken without receive().
    take = getattr(getattr(receive, "__self__", None), TAKE, None)
    if take is not None:
        whole: bytes | None = take()
        if whole is not None:
            if len(whole) > limit:
                raise _too_large()
            request._stream_consumed = True
            return whole
    return None


async def _received(request: Request, limit: int) -> bytes:
    """The body from ``receive()``, bounded by ``limit``, once ``_at_hand`` found none."""
    receive = request._receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large()
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                request._stream_consumed = True
                break
        elif kind == "http.disconnect":
            # Gone, or cut off by the server's read timeout: nobody to answer.
            request._is_disconnected = True
            raise GatewayError(
                "The request body did not arrive.", status=408, type="invalid_request_error"
            )
    # A body in one piece (the usual case) is returned as it came, not copied twice.
    return bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)


async def read_json_body(request: Request, limit: int) -> bytes:
    """``read_body`` of a JSON request, 415 for any other type: a web page can send text/plain
    (or a form) to any origin as a "simple" request without asking, but never JSON without a
    preflight this server does not grant, so no page can spend quota or drive the agent."""
    content_type, declared = two_headers(request, b"content-type", b"content-length")
    if content_type != b"application/json":  # as nearly every client sends it: nothing to parse
        media = "" if content_type is None else content_type.decode("latin-1")
        if media.split(";")[0].strip().lower() != "application/json":
            raise GatewayError(
                "Send the body as JSON with 'Content-Type: application/json'.",
                status=415,
                type="invalid_request_error",
                code="unsupported_media_type",
            )
    length = "" if declared is None else declared.decode("latin-1")
    whole = _at_hand(request, limit, length)
    return whole if whole is not None else await _received(request, limit)


def _too_large() -> GatewayError:
    return GatewayError("The request body is too large.", status=413, type="invalid_request_error")


# Every app's: a GatewayError as itself, Starlette's 404/405 as OpenAI-shaped errors, any other
# exception as a logged 500 that says nothing of its cause.
EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    GatewayError: _gateway_error,
    HTTPException: _http_error,
    Exception: _crash,
}


def closing(runtime: Runtime) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The lifespan of an app serving from ``runtime``: it closes the runtime on shutdown."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runtime.aclose()

    return lifespan


def route(path: str, endpoint: Callable[[Request], Any], *methods: str) -> Route:
    """A route answering exactly ``methods``: Starlette adds HEAD to a GET route, FastAPI's
    routes (these were) never did, so HEAD stays a 405 there."""
    made = Route(path, endpoint, methods=methods)
    made.methods = set(methods)
    return made


class Deferred:
    """Endpoints made by ``make`` on the first request to any of them, so that what serves them
    (another API's models and translators) is imported by the first request that needs it, not
    by every cold start of the function. ``make`` runs once: it does not await, so no other
    request runs between its start and its end."""

    def __init__(self, make: Callable[[], Mapping[str, Endpoint]]) -> None:
        self._make = make
        self._made: Mapping[str, Endpoint] | None = None

    def __getitem__(self, name: str) -> Endpoint:
        async def endpoint(connection: Any) -> Any:
            if self._made is None:
                self._made = self._make()
            return await self._made[name](connection)

        return endpoint


def new_app(runtime: Runtime, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """An app serving from ``runtime`` (on ``app.state``), which it closes when it shuts down.
    Mounted in the local server, its lifespan is the server's, which closes the shared one.
    Its routes of a fixed path are served past Starlette's router and exception middlewares,
    as they would serve them (``apps/fixed_routes.py``)."""
    for made in routes:
        if type(made) is Route and inspect.iscoroutinefunction(made.endpoint):
            made.app = Calling(made.endpoint)
    app = FixedRoutesApp(
        routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=closing(runtime)
    )
    # No trailing-slash redirects: Starlette builds their Location from the Host header, so a
    # forged Host would be sent back as a redirect; "/v1/models/" is a 404 like any other.
    app.router.redirect_slashes = False
    app.state.runtime = runtime
    return app
