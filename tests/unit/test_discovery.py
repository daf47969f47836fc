"""How long a provider's model list is kept, and what the listing makes of it."""

from __future__ import annotations

import httpx
import pytest
import respx

from llm_agg.discovery import Discovery
from llm_agg.providers.kinds import adapter_for
from llm_agg.providers.registry import BUILTIN
from tests.support.fixtures import raw

pytestmark = pytest.mark.anyio

SPECS = {"anthropic": BUILTIN["anthropic"]}
ADAPTERS = {"anthropic": adapter_for(BUILTIN["anthropic"])}
URL = "https://api.anthropic.com/v1/models"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_list_is_kept_for_its_ttl_then_asked_again():
    clock = Clock()
    discovery = Discovery(clock, ttl=600, retry=60)
    with respx.mock() as upstream:
        route = upstream.get(URL).mock(
            return_value=httpx.Response(200, content=raw("anthropic/models_list.json"))
        )
        async with httpx.AsyncClient() as client:
            first = await discovery.listed(client, SPECS, ADAPTERS, {"anthropic": "k"})
            clock.now += 599
            await discovery.listed(client, SPECS, ADAPTERS, {"anthropic": "k"})
            assert route.call_count == 1
            clock.now += 2
            await discovery.listed(client, SPECS, ADAPTERS, {"anthropic": "k"})
            assert route.call_count == 2
    assert first["anthropic"][0].id == "claude-sonnet-4-20250514"


async def test_a_failed_list_is_not_asked_again_before_the_retry_delay():
    clock = Clock()
    discovery = Discovery(clock, ttl=600, retry=60)
    with respx.mock() as upstream:
        route = upstream.get(URL).mock(return_value=httpx.Response(503))
        async with httpx.AsyncClient() as client:
            assert await discovery.listed(client, SPECS, ADAPTERS, {"anthropic": "k"}) == {}
            clock.now += 30
            assert await discovery.listed(client, SPECS, ADAPTERS, {"anthropic": "k"}) == {}
            assert route.call_count == 1
            clock.now += 31
            await discovery.listed(client, SPECS, ADAPTERS, {"anthropic": "k"})
            assert route.call_count == 2


async def test_a_malformed_list_counts_as_a_failure():
    with respx.mock() as upstream:
        upstream.get(URL).mock(return_value=httpx.Response(200, content=b"<html>"))
        async with httpx.AsyncClient() as client:
            assert await Discovery().listed(client, SPECS, ADAPTERS, {"anthropic": "k"}) == {}
