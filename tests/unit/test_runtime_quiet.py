"""``Runtime.quiet`` and the router's quick way: a settled route is given without asking for
the stored accounts' refresh, the accounts, the model lists' or the quota's refresh only while
each of those would have nothing to do (issue 17); otherwise the router goes the whole way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.support.routing import chat

MODEL = "groq/llama-3.3-70b-versatile"
CATALOG = "providers:\n  groq:\n    models:\n      - {id: llama-3.3-70b-versatile}\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    config = tmp_path / "providers.yaml"
    config.write_text(CATALOG)
    settings = Settings(data_dir=tmp_path, environ={"GROQ_API_KEY": "gsk_x"}, config_path=config)
    made = Runtime(settings)
    made.stored.monotonic = Clock()
    yield made
    made.stored.close()


def routed(runtime: Runtime) -> list[Any]:
    async def go() -> list[Any]:
        return await runtime.router.route(chat(model=MODEL))

    return asyncio.run(go())


def test_quiet_once_routed_and_not_while_anything_is_due(runtime: Runtime) -> None:
    assert runtime.quiet() is None  # nothing read yet
    routed(runtime)
    quiet = runtime.quiet()
    assert quiet is not None
    view, accounts = quiet
    assert view is runtime.view and accounts is runtime.accounts()

    clock = runtime.stored.monotonic
    assert isinstance(clock, Clock)
    clock.now += runtime.stored.vault.list_ttl
    assert runtime.quiet() is None  # the stored accounts are stale
    clock.now -= runtime.stored.vault.list_ttl

    runtime.quota.refreshed -= runtime.quota.refresh_every
    assert runtime.quiet() is None  # the quota's refresh is due
    runtime.quota.refreshed += runtime.quota.refresh_every
    assert runtime.quiet() is not None

    runtime.reachable = set()
    assert runtime.quiet() is None  # the accounts would be built again


def test_quiet_is_not_while_the_model_lists_are_due(runtime: Runtime) -> None:
    routed(runtime)
    runtime.settings = replace(runtime.settings, discovery_interval=60.0)
    runtime._discovered_at = float("-inf")
    assert runtime.quiet() is None
    runtime._discovered_at = time.monotonic()
    assert runtime.quiet() is not None


def test_the_quick_way_gives_the_settled_route_and_asks_nothing_else(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = routed(runtime)
    routed(runtime)  # settled by now

    def asked(*_: object) -> None:
        raise AssertionError("the quick way asks for none of these")

    router = runtime.router
    monkeypatch.setattr(router, "_refresh", asked)
    monkeypatch.setattr(router, "_accounts", asked)
    monkeypatch.setattr(router, "_discover", asked)
    assert routed(runtime) == first


def test_a_parked_key_sends_the_router_the_whole_way(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    routed(runtime)
    routed(runtime)
    runtime.quota.circuits.park("groq", "env", "other-key", "key_refused", "401")
    calls: list[str] = []
    refresh = runtime.router._refresh

    def counted() -> Any:
        calls.append("refresh")
        return refresh()

    monkeypatch.setattr(runtime.router, "_refresh", counted)
    routed(runtime)
    assert calls == ["refresh"]


def test_settled_answers_only_what_route_would_without_awaiting(runtime: Runtime) -> None:
    router = runtime.router
    assert router.settled(chat(model=MODEL)) is None  # nothing read yet: route must await
    first = routed(runtime)
    routed(runtime)
    assert router.settled(chat(model=MODEL)) == first
    assert router.settled(chat(model="groq/another-model")) is None  # not settled: route it
    runtime.quota.refreshed -= runtime.quota.refresh_every
    assert router.settled(chat(model=MODEL)) is None  # something is due first
