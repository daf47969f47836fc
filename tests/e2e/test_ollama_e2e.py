"""Ollama started after the gateway: `llm-agg serve` picks it up within the discovery interval.
Ollama is played by the fake upstream on loopback; no test needs a real one."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import FakeUpstream, start_gateway

pytestmark = pytest.mark.e2e
HI = {"model": "ollama/fake-model", "messages": [{"role": "user", "content": "hi"}]}


def test_an_ollama_started_after_the_gateway_is_used_within_the_discovery_interval(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    config = tmp_path / "providers.yaml"
    config.write_text("providers: {}\n")
    # Not there when the gateway starts: its model list fails.
    fake.queue_models("ollama", {"status": 503, "body": {"error": {"message": "starting"}}})
    env = {
        "LLM_AGG_CONFIG": str(config),
        "OLLAMA_BASE_URL": fake.base_url("ollama"),
        "LLM_AGG_DISCOVERY_INTERVAL": "1",
    }
    gateway = start_gateway(tmp_path, env)
    try:
        chat = f"{gateway.url}/v1/chat/completions"
        first = httpx.post(chat, json=HI, timeout=10)
        assert first.status_code >= 400  # nothing configured yet; this request asks again
        deadline = time.monotonic() + 15
        response = first
        while response.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
            response = httpx.post(chat, json=HI, timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["x-llm-agg-provider"] == "ollama"
        models = httpx.get(f"{gateway.url}/v1/models", timeout=10).json()["data"]
        assert "ollama/fake-model" in {m["id"] for m in models}
    finally:
        gateway.stop()
