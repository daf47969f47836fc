"""The quirks of the 2026 free tiers, end to end: the openai SDK against `llm-agg serve`, with
Gemini, GitHub Models, Cloudflare and Groq played by the fake upstream."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.harness import BIN, FakeUpstream, Process, start_gateway
from tests.support.fixtures import load

pytestmark = pytest.mark.e2e
ADMIN_KEY = "sk-llmagg-admin-e2e-free-9b2e4c7a81d3"
HI = [{"role": "user", "content": "hi"}]

# Gemini first, GitHub next, Groq as the backup: one bare id served by all three.
CATALOG = """
providers:
  gemini:
    timeout: 3
    models:
      - {id: fake-model, context: 100000, capabilities: [tools, json], quality: 5, speed: 5}
  github:
    timeout: 3
    models:
      - {id: fake-model, context: 8000, capabilities: [tools, json], quality: 4, speed: 5}
  groq:
    timeout: 3
    models:
      - {id: fake-model, context: 100000, capabilities: [tools, json], quality: 2, speed: 2}
  cloudflare:
    timeout: 3
    models:
      - {id: "@cf/meta/fake-model", context: 8000, capabilities: [], quality: 1, speed: 1}
"""


def env_for(fake: FakeUpstream, config: Path) -> dict[str, str]:
    return {
        "LLM_AGG_CONFIG": str(config),
        "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
        "GOOGLE_API_KEY": "AIza-e2e-gemini-0001",  # the alternate variable
        "GEMINI_BASE_URL": fake.base_url("gemini"),
        "GITHUB_API_KEY": "ghp_e2e_github_0002",  # the alternate variable
        "GITHUB_BASE_URL": fake.base_url("github"),
        "GROQ_API_KEY": "gsk_e2e_groq_0003",
        "GROQ_BASE_URL": fake.base_url("groq"),
        "CLOUDFLARE_API_KEY": "cf-e2e-token-0004",
        "CLOUDFLARE_ACCOUNT_ID": "acc-e2e-42",
        "CLOUDFLARE_BASE_URL": f"{fake.url}/cloudflare/client/v4/accounts/{{account_id}}/ai/v1",
    }


@pytest.fixture
def free_gateway(tmp_path: Path, fake: FakeUpstream) -> Iterator[Process]:
    config = tmp_path / "providers.yaml"
    config.write_text(CATALOG)
    process = start_gateway(tmp_path, env_for(fake, config))
    yield process
    process.stop()


def sdk(gateway: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


def ask(gateway: Process, **extra: Any) -> tuple[str, str]:
    """(provider, attempts) of one answer to ``fake-model``."""
    raw = sdk(gateway).chat.completions.with_raw_response.create(
        model="fake-model", messages=extra.pop("messages", HI), **extra
    )
    assert raw.parse().choices[0].message
    return raw.headers["x-llm-agg-provider"], raw.headers["x-llm-agg-attempts"]


def sent_to(fake: FakeUpstream, provider: str) -> list[dict[str, Any]]:
    return [r for r in fake.received() if r["provider"] == provider]


def test_gemini_never_sees_fields_or_schema_keywords_it_refuses(
    free_gateway: Process, fake: FakeUpstream
) -> None:
    parameters = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:weather",
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"const": "celsius"}},
    }
    tool = {"type": "function", "function": {"name": "weather", "parameters": parameters}}
    provider, _ = ask(
        free_gateway,
        tools=[tool],
        store=True,
        metadata={"run": "e2e"},
        service_tier="auto",
        extra_body={"prompt_cache_key": "conversation-1"},
    )
    assert provider == "gemini"
    (request,) = sent_to(fake, "gemini")
    body = request["body"]
    assert not {"store", "metadata", "service_tier", "prompt_cache_key"} & set(body)
    sent_parameters = body["tools"][0]["function"]["parameters"]
    assert "$schema" not in sent_parameters and "$id" not in sent_parameters
    assert sent_parameters["properties"]["unit"] == {"enum": ["celsius"]}
    assert request["headers"]["authorization"] == "Bearer AIza-e2e-gemini-0001"


def test_gemini_429_body_parks_the_quota_it_names_and_traffic_moves_on(
    free_gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue("gemini", {"status": 429, "body": load("gemini/error_429_per_minute.json")})
    assert ask(free_gateway) == ("github", "2")
    # Parked for the 38 s its RetryInfo gave: the next request does not try it.
    assert ask(free_gateway) == ("github", "1")
    assert len(sent_to(fake, "gemini")) == 1
    with httpx.Client(base_url=free_gateway.url, timeout=10) as http:
        providers = http.get(
            "/admin/providers", headers={"authorization": f"Bearer {ADMIN_KEY}"}
        ).json()
    text = json.dumps(providers)
    assert "GenerateRequestsPerMinutePerProjectPerModel-FreeTier" in text


def test_two_gemini_keys_of_one_project_are_one_quota(
    free_gateway: Process, fake: FakeUpstream
) -> None:
    # A second key, stored; it names no project, so it shares AI Studio's default one.
    with httpx.Client(base_url=free_gateway.url, timeout=10) as http:
        added = http.post(
            "/admin/credentials",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            json={"provider": "gemini", "account_id": "work", "api_key": "AIza-e2e-gemini-0005"},
        )
    assert added.status_code == 201, added.text
    day = load("gemini/error_429_per_day.json")
    fake.queue("gemini", {"status": 429, "body": day}, {"status": 429, "body": day})
    provider, attempts = ask(free_gateway)
    # One project, one spent day: the second key is not tried after the first one's 429.
    assert (provider, attempts) == ("github", "2")
    assert len(sent_to(fake, "gemini")) == 1


def test_cloudflare_is_called_at_its_account_url_with_its_model_id(
    free_gateway: Process, fake: FakeUpstream
) -> None:
    reply = sdk(free_gateway).chat.completions.create(
        model="cloudflare/@cf/meta/fake-model", messages=HI
    )
    assert reply.choices[0].message.content
    (request,) = sent_to(fake, "cloudflare")
    assert request["path"] == "/cloudflare/client/v4/accounts/acc-e2e-42/ai/v1/chat/completions"
    assert request["body"]["model"] == "@cf/meta/fake-model"
    assert request["headers"]["authorization"] == "Bearer cf-e2e-token-0004"


def test_github_token_limit_refusal_moves_on_and_long_prompts_skip_it(
    free_gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue("gemini", {"status": 503, "body": {"error": {"message": "busy"}}})
    refusal = load("github/error_413_tokens_limit_reached.json")
    fake.queue("github", {"status": 413, "body": refusal})
    assert ask(free_gateway) == ("groq", "3")
    fake.reset()
    # About 10,000 tokens: more than GitHub's free 8,000 per request, so it is not asked.
    long = [{"role": "user", "content": "word " * 40000}]
    fake.queue("gemini", {"status": 503, "body": {"error": {"message": "busy"}}})
    assert ask(free_gateway, messages=long) == ("groq", "2")
    assert sent_to(fake, "github") == []


def test_route_explain_and_models_show_the_new_providers(
    free_gateway: Process, fake: FakeUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "providers.yaml"
    env = {**env_for(fake, config), "LLM_AGG_URL": free_gateway.url, "PATH": str(BIN)}
    explained = subprocess.run(
        [str(BIN / "llm-agg"), "route", "--explain", "hello"],
        capture_output=True, text=True, timeout=30, check=True, env=env,
    ).stdout  # fmt: skip
    assert "gemini/fake-model" in explained and "github/fake-model" in explained
    models = subprocess.run(
        [str(BIN / "llm-agg"), "models"],
        capture_output=True, text=True, timeout=30, check=True, env=env,
    ).stdout  # fmt: skip
    assert "gemini" in models and "cloudflare" in models and "@cf/meta/fake-model" in models
    free = subprocess.run(
        [str(BIN / "llm-agg"), "models", "--free", "--admin-key", ADMIN_KEY],
        capture_output=True, text=True, timeout=30, check=True, env=env,
    ).stdout  # fmt: skip
    rows = [line.split() for line in free.splitlines()]
    assert ["gemini", "fake-model", "1", "(1", "keys,", "per", "project)"] in [r[:7] for r in rows]
