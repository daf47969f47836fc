from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

import admin_function
from llm_agg.apps.lambda_entry import mangum_handler
from llm_agg.settings import Settings
from llm_agg_local.server import create_app
from tests.functional.gateway import ADMIN_KEY, NO_OLLAMA, ROOT, Handler
from tests.support.runtimes import Built

CATALOG = Path(__file__).resolve().parents[1] / "e2e" / "providers.yaml"
GROQ = "http://groq.test/v1/chat/completions"
CEREBRAS = "http://cerebras.test/v1/chat/completions"
KEYS = {"GROQ_API_KEY": "gsk_functional_0001", "CEREBRAS_API_KEY": "csk_functional_0002"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings_for(tmp_path: Path, **env: str) -> Settings:
    environ = {
        **KEYS,
        "GROQ_BASE_URL": "http://groq.test/v1",
        "CEREBRAS_BASE_URL": "http://cerebras.test/v1",
        "OLLAMA_BASE_URL": NO_OLLAMA,
        **env,
    }
    return Settings(config_path=CATALOG, data_dir=tmp_path / "data", environ=environ)


@pytest.fixture
def make_client(tmp_path: Path) -> Callable[..., httpx.AsyncClient]:
    def make(**env: str) -> httpx.AsyncClient:
        app = create_app(settings_for(tmp_path, **env))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")

    return make


@pytest.fixture
async def client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


@pytest.fixture
def admin_lambda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Handler]:
    """The admin function's Mangum entry, in an environment of its own."""
    monkeypatch.setenv("LLM_AGG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLM_AGG_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("LLM_AGG_CONFIG", str(ROOT / "tests/e2e/providers.yaml"))
    built = Built(admin_function.build_app)
    try:
        yield mangum_handler(built)
    finally:
        asyncio.run(built.aclose())
