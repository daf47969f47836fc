"""One ASGI app that serves every function app by path, as API Gateway does on AWS."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from llm_agg.memo import Memo
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg_local.admin_key import ensure_admin_key
from llm_agg_local.forwarded import Forwarded
from llm_agg_local.hosts import HostGuard, HostPolicy, Serving

# Longest prefix first: /v1/agents belongs to the agent function, the rest of /v1 to chat.
Route = tuple[str, ASGIApp]


Startup = Callable[[], Awaitable[None]]
REMEMBERED_PATHS = 256  # paths whose app is remembered; then forgotten
REMEMBERED_PATH = 128  # characters: longer paths are looked up each time, never kept


async def _nothing() -> None:
    return None


class PathRouter:
    """The mounted apps by path, and the runtime they share: its lifespan is theirs (Starlette
    runs no lifespan of a mounted app), so it closes the runtime on shutdown."""

    def __init__(
        self,
        runtime: Runtime,
        routes: Sequence[Route],
        fallback: ASGIApp,
        startup: Startup = _nothing,
    ) -> None:
        self.runtime = runtime
        self.routes = sorted(routes, key=lambda r: len(r[0]), reverse=True)
        self.fallback = fallback
        self.startup = startup
        # What serves each short path seen (a client asks the same few paths for ever): one
        # look-up a request instead of a prefix test per mounted app. Bounded: cleared when full.
        self._serving: Memo[str, Serving] = Memo(REMEMBERED_PATHS)

    def app_for(self, path: str) -> ASGIApp:
        """The mounted app (else the fallback) whose prefix ``path`` is under, the longest."""
        for prefix, app in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return app
        return self.fallback

    def serving_for(self, path: str) -> Serving:
        """What serves ``path`` as a plain function returning the awaitable (an app's
        ``serving``, as ``FixedRoutesApp`` has: one coroutine less a request), else its app."""
        serving = self._serving.get(path)
        if serving is None:
            app = self.app_for(path)
            serving = cast(Serving, getattr(app, "serving", app))
            if len(path) <= REMEMBERED_PATH:
                self._serving.keep(path, serving)
        return serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.startup, self.runtime)
            return
        # All it does for a request: a Host guard in front (hosts.HostGuard) does it itself.
        await self.serving_for(scope.get("path", ""))(scope, receive, send)


class BuiltOnFirstRequest:
    """A function app made on its first request. The admin app (FastAPI, the page, the OpenAPI
    document) and the agent's are ~25 MB of each worker and most workers never serve them;
    the first request to one pays its import and build once per worker (~0.3 s)."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    @property
    def app(self) -> ASGIApp:
        if self._app is None:
            self._app = self._build()  # no await inside: requests never see it half made
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


async def _lifespan(receive: Receive, send: Send, startup: Startup, runtime: Runtime) -> None:
    # The runtime makes its clients lazily; startup only asks local model servers whether they
    # are there, shutdown closes the clients and stores.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await runtime.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(settings: Settings | None = None, freeze: bool = False) -> PathRouter:
    """The local server: the function modules' own ``build_app``, mounted by path. With
    ``freeze``, what exists once it has started is frozen (``gc.freeze``): modules, the catalog
    and the apps live as long as the worker, and a full collection then skips their ~50,000
    objects (0.5 ms instead of 40-80 ms, a pause that every request in flight would feel).
    Only for a served process: frozen objects are never collected, so a test process that
    builds many servers would keep the garbage of each."""
    import chat_function
    import health_function

    settings = ensure_admin_key(settings or Settings.from_env())
    if settings.store == "moto":
        import llm_agg_local.moto_aws  # noqa: F401  (registers the moto backend)
    runtime = Runtime(settings)  # one for every mounted app: one pool, one router's memory
    chat = chat_function.build_app(runtime)
    health = health_function.build_app(runtime)

    def build_admin() -> ASGIApp:
        import admin_function

        return admin_function.build_app(runtime)

    def build_agent() -> ASGIApp:
        import agent_function

        return agent_function.build_app(runtime)

    admin = BuiltOnFirstRequest(build_admin)
    agent = BuiltOnFirstRequest(build_agent)
    # The page's files are compressed here; on AWS, API Gateway compresses (a Mangum body
    # that is gzip would reach the browser base64-encoded).
    page = GZipMiddleware(admin, minimum_size=1024)
    routes: list[Route] = [
        ("/v1", chat),
        ("/v1/agents", agent),
        ("/health", health),
        ("/admin", admin),
        ("/openapi.json", admin),
        ("/ui", page),
        ("/", page),  # only "/" itself: it redirects to the page
    ]

    async def start() -> None:
        if settings.discovery_interval > 0:  # a server that discovers models at all
            await runtime.probe()
        if freeze:
            gc.freeze()

    return PathRouter(runtime, routes, fallback=chat, startup=start)


def create_served_app() -> HostGuard:
    """What ``llm-agg serve`` runs: the gateway behind its Host and Origin guard, which also
    reads what a proxy on this machine forwards (``X-Forwarded-For``, ``-Proto``)."""
    settings = Settings.from_env()
    policy = HostPolicy.from_env(settings.require_auth, settings.environ)
    forwarded = Forwarded.from_env(settings.environ)  # uvicorn runs without its proxy_headers
    return HostGuard(create_app(settings, freeze=True), policy, forwarded)  # ASGI 3: serve.py
