"""``GET /v1/models`` lists Anthropic's and Cohere's models from their own model lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llm_agg.apps.chat import create_chat_app
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.support.fixtures import raw

pytestmark = pytest.mark.anyio

CATALOG = """
providers:
  anthropic:
    models:
      - id: claude-sonnet-4-20250514
        context: 200000
        capabilities: [tools]
      - {id: claude-retired-model, context: 100000}
  cohere:
    models:
      - {id: command-r7b-12-2024, context: 128000}
  groq:
    models:
      - {id: llama-3.3-70b-versatile, context: 131072}
"""


@asynccontextmanager
async def listing(
    tmp_path: Path, environ: dict[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, respx.MockRouter, Runtime]]:
    config = tmp_path / "providers.yaml"
    config.write_text(CATALOG)
    settings = Settings(config_path=config, data_dir=tmp_path / "data", environ=environ)
    runtime = Runtime(settings)
    transport = httpx.ASGITransport(app=create_chat_app(runtime))
    try:
        with respx.mock(assert_all_called=False) as upstream:
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                yield client, upstream, runtime
    finally:
        await runtime.aclose()


KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-models",
    "ANTHROPIC_BASE_URL": "http://anthropic.upstream",
    "COHERE_API_KEY": "co-models",
    "COHERE_BASE_URL": "http://cohere.upstream",
    "GROQ_API_KEY": "gsk-models",
}


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in data["data"]}


async def test_native_models_come_from_each_providers_list(tmp_path: Path):
    async with listing(tmp_path, KEYS) as (client, upstream, _):
        anthropic = upstream.get(host="anthropic.upstream", path="/v1/models").mock(
            return_value=httpx.Response(200, content=raw("anthropic/models_list.json"))
        )
        cohere = upstream.get(host="cohere.upstream", path="/v1/models").mock(
            return_value=httpx.Response(200, content=raw("cohere/models_list.json"))
        )
        first = (await client.get("/v1/models")).json()
        second = (await client.get("/v1/models")).json()
    models = by_id(first)
    assert "auto" in models
    # Listed by the provider, with the catalog's facts where it has them.
    assert models["anthropic/claude-sonnet-4-20250514"]["context_window"] == 200000
    assert models["anthropic/claude-sonnet-4-20250514"]["created"] == 1747872000
    assert models["anthropic/claude-3-5-haiku-20241022"]["owned_by"] == "anthropic"
    assert models["cohere/command-a-03-2025"]["context_window"] == 256000
    # What the provider no longer lists is not offered; embed models are not chat models.
    assert "anthropic/claude-retired-model" not in models
    assert "cohere/command-r7b-12-2024" not in models
    assert "cohere/embed-v4.0" not in models
    # OpenAI-compatible providers are still listed from the catalog.
    assert "groq/llama-3.3-70b-versatile" in models
    # The lists are kept: the second listing asked nobody.
    assert second == first
    assert anthropic.call_count == 1 and cohere.call_count == 1
    request = anthropic.calls[0].request
    assert request.headers["x-api-key"] == "sk-ant-models"
    assert request.url.params["limit"] == "1000"
    assert cohere.calls[0].request.headers["authorization"] == "Bearer co-models"
    assert cohere.calls[0].request.url.params["endpoint"] == "chat"


async def test_a_provider_that_cannot_list_is_listed_from_the_catalog(tmp_path: Path):
    async with listing(tmp_path, KEYS) as (client, upstream, _):
        upstream.get(host="anthropic.upstream").mock(
            return_value=httpx.Response(401, content=raw("anthropic/error_401_authentication.json"))
        )
        upstream.get(host="cohere.upstream").mock(side_effect=httpx.ConnectError("refused"))
        response = await client.get("/v1/models")
    assert response.status_code == 200
    models = by_id(response.json())
    assert "anthropic/claude-retired-model" in models
    assert "cohere/command-r7b-12-2024" in models


async def test_providers_without_a_key_are_neither_asked_nor_listed(tmp_path: Path):
    async with listing(tmp_path, {"GROQ_API_KEY": "gsk"}) as (client, upstream, _):
        response = await client.get("/v1/models")
        assert not upstream.calls
    assert set(by_id(response.json())) == {"auto", "groq/llama-3.3-70b-versatile"}


async def test_the_provider_key_never_appears_in_the_listing(tmp_path: Path):
    async with listing(tmp_path, KEYS) as (client, upstream, _):
        upstream.get(host="anthropic.upstream").mock(
            return_value=httpx.Response(200, content=raw("anthropic/models_list.json"))
        )
        upstream.get(host="cohere.upstream").mock(
            return_value=httpx.Response(200, content=raw("cohere/models_list.json"))
        )
        response = await client.get("/v1/models")
    assert "sk-ant-models" not in response.text and "co-models" not in response.text
