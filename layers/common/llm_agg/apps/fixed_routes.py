"""An app's routes of a fixed path served without Starlette's router and its two exception
middlewares: what they would do for such a request, done in one call.

Starlette runs every request through ``ServerErrorMiddleware`` and ``ExceptionMiddleware`` (a
closure and a wrapper around ``send`` each, so two more calls for every message of a stream)
and then tries each route's regular expression in turn. A request to a route of a fixed path
with one of its methods (``POST /v1/chat/completions``, nearly every request) needs only a
dictionary look-up, one wrapper around ``send`` and the handlers' logic when it fails. Any other
request (a path with parameters, a 404 or 405, a WebSocket, the lifespan) is Starlette's, as
before; ``tests/unit/test_app_errors.py`` holds both answering alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import is_async_callable
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# path: {method: the route Starlette's router would choose for it}
Table = dict[str, dict[str, Route]]
Endpoint = Callable[[Request], Awaitable[Any]]


def new_request(scope: Scope, receive: Receive, send: Send) -> Request:
    """``Request(scope, receive, send)`` of an HTTP scope: the same object, without its two
    ``__init__`` calls and their ``super()`` (~3 µs of a cold request; tests/unit/
    test_app_errors.py holds the two alike)."""
    made = Request.__new__(Request)
    made.scope = scope
    made._receive = receive
    made._send = send
    made._stream_consumed = False
    made._is_disconnected = False
    made._form = None
    return made


class Calling:
    """What Starlette's ``request_response`` makes of ``endpoint`` but its second exception
    layer: the app's ExceptionMiddleware, just above the router, holds the same handlers and
    catches what this raises alike (a handled error after the response started included),
    so the layer only added a wrapper on every message sent (1.2 µs a request, ~0.4 µs a
    chunk of a stream). ``FixedRoutes.serve`` calls its endpoint itself: one coroutine less."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(new_request(scope, receive, send))
        await response(scope, receive, send)


def fixed_routes(router: Router) -> Table:
    """The routes of a fixed path, each under every method it answers, as Starlette's own
    matching chooses them (the first route that matches fully, in the router's order)."""
    table: Table = {}
    for candidate in router.routes:
        if type(candidate) is not Route or candidate.param_convertors or not candidate.methods:
            continue
        for method in candidate.methods:
            scope = {"type": "http", "path": candidate.path, "method": method, "headers": []}
            chosen = next(r for r in router.routes if r.matches(scope)[0] is Match.FULL)
            if type(chosen) is Route and not chosen.param_convertors:
                table.setdefault(candidate.path, {}).setdefault(method, chosen)
    return table


class FixedRoutes:
    """In front of Starlette's stack (``errors``, its ServerErrorMiddleware, around
    ``exceptions``, its ExceptionMiddleware, around the router): the requests to ``table``'s
    routes served as that stack would serve them, with its handlers; the others handed to it."""

    def __init__(
        self,
        errors: ServerErrorMiddleware,
        exceptions: ExceptionMiddleware,
        router: Router,
        table: Table,
    ) -> None:
        self.errors = errors
        self.router = router
        self.table = table
        self.handlers = exceptions._exception_handlers
        self.status_handlers = exceptions._status_handlers

    def route_for(self, scope: Scope) -> Route | None:
        """The route of ``table`` this request goes to, or None: Starlette's to serve."""
        if scope["type"] == "http" and not scope.get("root_path"):
            routes = self.table.get(scope["path"])
            if routes is not None:
                return routes.get(scope["method"])
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.route_for(scope)
        if route is not None:
            await self.serve(route, scope, receive, send)
            return
        await self.errors(scope, receive, send)

    async def serve(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        # What the exception middleware and the router put in the scope, as they do.
        scope["starlette.exception_handlers"] = (self.handlers, self.status_handlers)
        if "router" not in scope:
            scope["router"] = self.router
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        # Whether the answer has started: a server's request cycle that says it itself
        # (uvicorn's, ``response_started``) is sent to as it is; for any other ``send`` a
        # wrapper notes it, as Starlette's middleware does. Without the wrapper, every message
        # of the answer (a stream's every chunk) goes out one coroutine layer shallower.
        cycle: Any = getattr(send, "__self__", None)
        sender: Send = send
        if not hasattr(cycle, "response_started"):
            cycle = sender = _Noting(send)
        app = route.app
        try:
            try:
                if type(app) is Calling:  # its call, in this frame
                    response = await app.endpoint(new_request(scope, receive, sender))
                    await response(scope, receive, sender)
                else:
                    await app(scope, receive, sender)
            except Exception as exc:  # ExceptionMiddleware's part
                handler = None
                if isinstance(exc, HTTPException):
                    handler = self.status_handlers.get(exc.status_code)
                if handler is None:
                    handler = _lookup_exception_handler(self.handlers, exc)
                if handler is None:
                    raise
                if cycle.response_started:
                    message = "Caught handled exception, but response already started."
                    raise RuntimeError(message) from exc
                response = await _call(handler, Request(scope, receive, sender), exc)
                if response is not None:
                    await response(scope, receive, sender)
                exc.__traceback__ = None  # as Starlette: a reused exception keeps no traceback
        except Exception as exc:  # ServerErrorMiddleware's part: a 500, and raised again
            request = Request(scope)
            handler = self.errors.handler
            if handler is None:
                response = self.errors.error_response(request, exc)
            else:
                response = await _call(handler, request, exc)
            if not cycle.response_started:
                await response(scope, receive, send)
            raise


class _Noting:
    """``send``, noting whether the answer has started (an ``http.response.start`` sent)."""

    __slots__ = ("response_started", "send")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.response_started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
        await self.send(message)


async def _call(handler: Callable[..., Any], request: Request, exc: Exception) -> Any:
    if is_async_callable(handler):
        return await handler(request, exc)
    return await run_in_threadpool(handler, request, exc)


class FixedRoutesApp(Starlette):
    """A Starlette app whose routes of a fixed path are served by ``FixedRoutes``: when it has
    no middleware of its own between Starlette's two (which would see those requests), and is
    not in debug mode (whose 500 shows the traceback)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.serving(scope, receive, send)

    def serving(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """``Starlette.__call__`` and, when its stack is ``FixedRoutes``, that stack's call, in
        one plain function returning the awaitable that serves the request: a caller that
        awaits it (the local server's path router) has no layer of this app's own between it
        and the route's, on the way in and at each resumption of the request's task."""
        scope["app"] = self
        stack = self.middleware_stack
        if stack is None:
            stack = self.middleware_stack = self.build_middleware_stack()
        if type(stack) is not FixedRoutes:
            return stack(scope, receive, send)
        # FixedRoutes.__call__'s, in this frame (route_for's too).
        if scope["type"] == "http" and not scope.get("root_path"):
            routes = stack.table.get(scope["path"])
            if routes is not None:
                route = routes.get(scope["method"])
                if route is not None:
                    return stack.serve(route, scope, receive, send)
        return stack.errors(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        inner = getattr(stack, "app", None)
        if (
            type(stack) is not ServerErrorMiddleware
            or stack.debug
            or type(inner) is not ExceptionMiddleware
            or inner.app is not self.router
        ):
            return stack
        return FixedRoutes(stack, inner, self.router, fixed_routes(self.router))
