"""The router's choice for a named model follows the catalog and the providers configured as
they change: what it remembers of a model's one candidate (issue 17) is never stale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_agg.api.errors import InvalidRequest
from llm_agg.providers.accounts import Account
from llm_agg.router import Router
from llm_agg.routing.catalog import Catalog, parse_catalog
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.support.native import chat


def catalog(*providers: str, max_output: int = 4096) -> Catalog:
    model = {"id": "shared", "max_output": max_output}
    return parse_catalog({"providers": {p: {"models": [model]} for p in providers}})


def keyed(*providers: str) -> dict[str, list[Account]]:
    return {p: [Account(p, "env", "k")] for p in providers}


class Routed:
    """A router over a catalog and accounts that change between requests, as discovery and
    stored accounts change them."""

    def __init__(self, runtime: Runtime) -> None:
        self.view = catalog("groq", max_output=100)
        self.accounts = keyed("groq")
        self.router = Router(
            runtime.specs,
            runtime.listers,
            runtime.quota,
            runtime.health,
            runtime.accounting,
            runtime.clock,
            0,
            view=lambda: self.view,
            accounts=lambda: self.accounts,
            refresh=runtime.stored.refresh,
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
