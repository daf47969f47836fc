"""A whole local gateway in-process (every function app, as ``llm-agg serve`` mounts them),
on a temporary data dir, with groq and cerebras at addresses respx answers for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from llm_agg.settings import Settings
from llm_agg_local.server import create_app
from tests.support.fixtures import load

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "sk-llmagg-admin-test-4f1c9b2e7d0a5c"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
# A Lambda entry, as Mangum gives it: an API Gateway event and a context in, a response out.
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
GROQ = "https://groq.test/openai/v1"
CEREBRAS = "https://cerebras.test/v1"


def fixture(name: str) -> Any:
    return load(name)


def make_settings(tmp: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "LLM_AGG_DATA_DIR": str(tmp / "data"),
            "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
            "LLM_AGG_CONFIG": str(ROOT / "tests/e2e/providers.yaml"),
            "GROQ_BASE_URL": GROQ,
            "CEREBRAS_BASE_URL": CEREBRAS,
            **env,
        }
    )


@contextmanager
def serve(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def chat(client: TestClient, key: str | None = None, **extra: Any) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], **extra}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def add_account(client: TestClient, provider: str, account: str, key: str, **extra: Any) -> Any:
    body = {"provider": provider, "account_id": account, "api_key": key, **extra}
    return client.post("/admin/credentials", json=body, headers=ADMIN)


def assert_openai_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)
