"""The router's choice for a named model follows the catalog and the providers configured as
they change: what it remembers of a model's one candidate, and of its route when that is one
target (issue 17), is never stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llm_agg.api.errors import InvalidRequest, NoProviderConfigured, NotFound, RequestTooLarge
from llm_agg.limits.cooldown import Cooldown
from llm_agg.providers.accounts import Account
from llm_agg.router import Router
from llm_agg.routing.catalog import Catalog, parse_catalog
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.support.native import chat


def catalog(*providers: str, max_output: int = 4096) -> Catalog:
    model = {"id": "shared", "max_output": max_output}
    return parse_catalog({"providers": {p: {"models": [model]} for p in providers}})


USER = {"role": "user", "content": "hi"}


def keyed(*providers: str) -> dict[str, list[Account]]:
    return {p: [Account(p, "env", "k")] for p in providers}


class Routed:
    """A router over a catalog and accounts that change between requests, as discovery and
    stored accounts change them."""

    def __init__(self, runtime: Runtime, recheck_interval: float = 0) -> None:
        self.runtime = runtime
        self.view = catalog("groq", max_output=100)
        self.accounts = keyed("groq")
        self.router = Router(
            runtime.specs,
            runtime.listers,
            runtime.quota,
            runtime.health,
            runtime.accounting,
            runtime.clock,
            recheck_interval,
            view=lambda: self.view,
            accounts=lambda: self.accounts,
            refresh=runtime.stored.refreshing,
            discover=lambda accounts: None,
            client=lambda: runtime.client,
        )

    def ask(self, model: str, **fields: Any) -> list[tuple[str, str, int | None]]:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}
        return [(t.spec.name, t.model, t.max_output) for t in self.router._targets(chat(body))]


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[Routed]:
    runtime = Runtime(Settings(data_dir=tmp_path, environ={}))
    yield Routed(runtime)
    runtime.stored.close()


def test_a_named_model_follows_the_catalog_as_discovery_replaces_it(routed: Routed) -> None:
    assert routed.ask("shared") == [("groq", "shared", 100)]
    assert routed.ask("shared") == [("groq", "shared", 100)]
    routed.view = catalog("groq", max_output=200)
    assert routed.ask("shared") == [("groq", "shared", 200)]


def test_a_named_model_follows_the_providers_configured(routed: Routed) -> None:
    routed.view = catalog("groq", "cerebras")
    assert [p for p, *_ in routed.ask("shared")] == ["groq"]
    routed.accounts = keyed("cerebras")
    assert [p for p, *_ in routed.ask("shared")] == ["cerebras"]
    routed.accounts = keyed("cerebras", "groq")  # two candidates: ranked, both tried
    assert sorted(p for p, *_ in routed.ask("shared")) == ["cerebras", "groq"]


def test_a_forced_provider_and_the_model_it_names_are_remembered_apart(routed: Routed) -> None:
    assert routed.ask("groq/brand-new") == [("groq", "brand-new", None)]
    assert routed.ask("brand-new", provider="groq") == [("groq", "brand-new", None)]
    assert routed.ask("groq/shared") == [("groq", "shared", 100)]
    for _ in range(2):  # refused each time, never remembered as a choice
        with pytest.raises(InvalidRequest, match="Unknown provider"):
            routed.ask("shared", provider="nobody")
        with pytest.raises(InvalidRequest, match="'provider' is 'cerebras'"):
            routed.ask("groq/shared", provider="cerebras")


def test_a_replaced_account_is_the_one_targeted(routed: Routed) -> None:
    def keys() -> list[str | None]:
        call = chat({"model": "shared", "messages": [{"role": "user", "content": "hi"}]})
        return [t.account.api_key for t in routed.router._targets(call)]

    assert keys() == ["k"]
    routed.accounts = {"groq": [Account("groq", "env", "rotated")]}  # a stored key replaced
    assert keys() == ["rotated"]
    routed.accounts = {"groq": [Account("groq", "env", "k"), Account("groq", "two", "k2")]}
    assert sorted(str(k) for k in keys()) == ["k", "k2"]


# The route of a named model served by one account is remembered (``Router._settled``): each
# test asks twice first, so that the change it makes meets a remembered route.


def settled(routed: Routed, model: str = "shared", **fields: Any) -> list[Any]:
    first = routed.ask(model, **fields)
    assert routed.ask(model, **fields) == first
    assert routed.router._settled  # remembered: what follows tests that it is not stale
    return first


def test_a_settled_route_follows_accounts_added_and_removed(routed: Routed) -> None:
    assert settled(routed) == [("groq", "shared", 100)]
    # A second account of the same provider: both, rotated, never the one remembered alone.
    routed.accounts = {"groq": [Account("groq", "env", "k"), Account("groq", "two", "k2")]}
    targets = routed.router._targets(chat({"model": "shared", "messages": [USER]}))
    assert sorted(t.account.account_id for t in targets) == ["env", "two"]
    routed.accounts = keyed("groq")
    assert routed.ask("shared") == [("groq", "shared", 100)]
    routed.view = catalog("groq", "cerebras")
    routed.accounts = keyed("groq", "cerebras")  # another provider serves it too: ranked
    assert sorted(p for p, *_ in routed.ask("shared")) == ["cerebras", "groq"]
    routed.accounts = keyed("cerebras")  # the remembered provider's account removed
    assert routed.ask("shared") == [("cerebras", "shared", 4096)]
    routed.accounts = {}
    with pytest.raises(NoProviderConfigured):
        routed.ask("shared")


def test_a_settled_route_follows_the_catalog_reloaded(routed: Routed) -> None:
    assert settled(routed) == [("groq", "shared", 100)]
    routed.view = catalog("groq", max_output=300)
    assert routed.ask("shared") == [("groq", "shared", 300)]
    routed.view = parse_catalog({"providers": {"groq": {"models": [{"id": "other"}]}}})
    with pytest.raises(NotFound):  # no longer in the catalog, and no provider named
        routed.ask("shared")
    assert routed.ask("groq/shared") == [("groq", "shared", None)]  # passed through


def test_a_settled_route_follows_a_provider_replaced(routed: Routed) -> None:
    assert settled(routed) == [("groq", "shared", 100)]
    specs = routed.runtime.specs
    specs["groq"] = replace(specs["groq"], max_request_tokens=1)
    with pytest.raises(RequestTooLarge, match="at most 1 tokens"):
        routed.ask("shared")


def test_a_body_a_settled_provider_refuses_is_refused(routed: Routed) -> None:
    assert settled(routed, n=1) == [("groq", "shared", 100)]  # n=1: groq takes it
    with pytest.raises(InvalidRequest, match="groq serves only n=1"):
        routed.ask("shared", n=2)
    assert routed.ask("shared") == [("groq", "shared", 100)]


def test_a_settled_route_is_the_route_of_a_target_cooling_down_or_failing(
    routed: Routed,
) -> None:
    """A lone target is the route whatever its health (admission turns it down with its
    reset): the remembered route is what the router works out afresh."""
    assert settled(routed) == [("groq", "shared", 100)]
    quota = routed.runtime.quota
    quota.cooldowns.add(Cooldown("groq", "env", "shared", time.time() + 60, "rate limited"))
    for _ in range(3):
        quota.circuits.failed("groq", "env", "boom")
    assert quota.circuits.blocking("groq", "env") is not None
    fresh = Routed(routed.runtime)
    assert routed.ask("shared") == fresh.ask("shared") == [("groq", "shared", 100)]


def test_a_parked_key_is_rechecked_when_its_route_is_settled(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path, environ={}))
    routed = Routed(runtime, recheck_interval=1e-9)

    async def scenario() -> None:
        assert settled(routed) == [("groq", "shared", 100)]
        assert routed.router._rechecking is None
        runtime.quota.circuits.park("groq", "env", "k", "key_refused", "401")
        assert routed.ask("shared") == [("groq", "shared", 100)]
        assert routed.router._rechecking is not None  # the re-check is under way
        routed.router.close()

    try:
        asyncio.run(scenario())
    finally:
        runtime.stored.close()
