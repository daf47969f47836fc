"""Ollama, a local server without a key, is configured only while it answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.support.fixtures import raw

pytestmark = pytest.mark.anyio
MODELS = "http://127.0.0.1:11434/v1/models"


def runtime(tmp_path: Path) -> Runtime:
    return Runtime(Settings(config_path=tmp_path / "none.yaml", data_dir=tmp_path, environ={}))


@respx.mock
async def test_ollama_is_configured_when_it_answers_at_start(tmp_path: Path) -> None:
    respx.get(MODELS).respond(200, content=raw("ollama/models_list.json"))
    rt = runtime(tmp_path)
    assert "ollama" not in rt.accounts()  # before anyone asked
    await rt.probe()
    (account,) = rt.accounts()["ollama"]
    assert account.api_key is None
    await rt.aclose()


@respx.mock
async def test_ollama_that_does_not_answer_is_not_configured(tmp_path: Path) -> None:
    respx.get(MODELS).mock(side_effect=httpx.ConnectError("refused"))
    rt = runtime(tmp_path)
    await rt.probe()
    assert "ollama" not in rt.accounts()
    await rt.aclose()


@respx.mock
async def test_discovery_drops_ollama_once_it_stops_answering(tmp_path: Path) -> None:
    route = respx.get(MODELS).respond(200, content=raw("ollama/models_list.json"))
    rt = runtime(tmp_path)
    await rt.probe()
    assert "ollama" in rt.accounts()
    route.mock(side_effect=httpx.ConnectError("gone"))
    rt.discovery = type(rt.discovery)(rt.clock, ttl=0.0, retry=0.0)  # ask again at once
    await rt._refresh_view({"ollama": None})
    assert "ollama" not in rt.accounts()
    await rt.aclose()
