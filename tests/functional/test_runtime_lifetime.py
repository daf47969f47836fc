"""The runtime is the app's: the local server makes one that its mounted apps share, and
closes it when it shuts down; a function built alone makes its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import health_function
from llm_agg_local.server import create_app
from tests.functional.gateway import make_settings
from tests.support.runtimes import function_app, runtime_of


def test_the_mounted_apps_share_the_servers_runtime_closed_when_it_stops(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    mounted = [function_app(a) for _, a in app.routes]
    assert len({id(a) for a in mounted}) == 4
    assert {id(runtime_of(a)) for a in mounted} == {id(app.runtime)}
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        pooled = app.runtime.client
        assert not pooled.is_closed
    assert pooled.is_closed


def test_each_function_built_alone_has_its_own_runtime_closed_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in make_settings(tmp_path).environ.items():
        monkeypatch.setenv(name, value)  # as Lambda gives a function its environment
    first, second = health_function.build_app(), health_function.build_app()
    assert runtime_of(first) is not runtime_of(second)
    with TestClient(first) as client:
        assert client.get("/health").status_code == 200
        pooled, other = runtime_of(first).client, runtime_of(second).client
    assert pooled.is_closed and not other.is_closed
    with TestClient(second):
        pass
    assert other.is_closed
