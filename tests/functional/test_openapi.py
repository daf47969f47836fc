"""The OpenAPI document describes exactly the routes the local server serves (the function
apps, mounted by path as API Gateway mounts them), and every schema it names is in it.
The server's answers are checked against it in tests/e2e/test_openapi_e2e.py."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route, WebSocketRoute

from llm_agg.openapi import openapi_document
from llm_agg_local.server import create_app
from tests.functional.conftest import settings_for
from tests.support.runtimes import function_app


def _routes(routes: Iterable[Any]) -> Iterator[Route]:
    """Every route, through the routers an app includes (their paths carry their prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, WebSocketRoute):
            continue  # not HTTP: OpenAPI does not describe it (it only refuses, with 426)
        else:
            assert isinstance(route, Route), route
            yield route


def _served(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every route, reached through the server's own path routing."""
    server = create_app(settings_for(tmp_path, LLM_AGG_ADMIN_KEY="k" * 40))
    found = set()
    for _, mounted in server.routes:
        app = function_app(mounted)
        for route in _routes(app.routes):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            concrete = re.sub(r"\{\w+\}", "x1", path)
            if server.app_for(concrete) is not mounted:
                continue  # shadowed: the server sends that path to another app
            found |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_document_describes_every_served_route_and_no_other(tmp_path: Path) -> None:
    described = {(m, p) for p, methods in openapi_document()["paths"].items() for m in methods}
    served = _served(tmp_path)
    assert served - described == set(), "served but not described (add it to openapi/routes.py)"
    assert described - served == set(), "described but not served"


def test_every_schema_the_document_names_is_in_it() -> None:
    document = openapi_document()
    names = set(document["components"]["schemas"])
    for target in _refs(document):
        assert target.startswith("#/components/schemas/"), target
        assert target.rsplit("/", 1)[1] in names, target


@pytest.mark.anyio
async def test_the_server_serves_the_document_publicly(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, LLM_AGG_ADMIN_KEY="k" * 40))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answer = await client.get("/openapi.json")  # no key
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == openapi_document()
