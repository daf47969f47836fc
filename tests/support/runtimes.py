"""The runtime an app serves from, for tests that look inside it, and the closing of the
runtimes of apps whose lifespan never runs (Mangum's, or an app called over ASGI directly)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from starlette.applications import Starlette

from llm_agg.runtime import Runtime
from llm_agg_local.server import PathRouter


def function_app(mounted: Any) -> Starlette:
    """The function app the local server mounts, built now if it is built on first request,
    and unwrapped from the page's GZip."""
    while not isinstance(mounted, Starlette):
        mounted = mounted.app
    return mounted


def runtime_of(app: Any) -> Runtime:
    """The runtime of a function app, of the local server (shared by its apps), or of the app
    a TestClient calls."""
    if isinstance(app, TestClient):
        app = app.app
    if isinstance(app, PathRouter):
        return app.runtime
    assert isinstance(app, Starlette), type(app)
    runtime = app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


class Built:
    """A ``build_app`` that keeps each app it makes, so their runtimes can be closed."""

    def __init__(self, build_app: Callable[[], Any]) -> None:
        self._build_app = build_app
        self.apps: list[Any] = []

    def __call__(self) -> Any:
        app = self._build_app()
        self.apps.append(app)
        return app

    async def aclose(self) -> None:
        for app in self.apps:
            await runtime_of(app).aclose()
        self.apps.clear()
