"""The router end to end: the openai SDK against `llm-agg serve` and two fake providers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.harness import BIN, ROOT, FakeUpstream, Process, start_gateway

pytestmark = pytest.mark.e2e
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def router_gateway(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    env = {
        "GROQ_API_KEY": "gsk_router_0001",
        "GROQ_BASE_URL": fake.base_url("groq"),
        "CEREBRAS_API_KEY": "csk_router_0002",
        "CEREBRAS_BASE_URL": fake.base_url("cerebras"),
    }
    process = start_gateway(e2e_tmp, env)
    yield process
    process.stop()


def served_by(client: openai.OpenAI) -> str:
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert raw.parse().choices[0].message.content
    return raw.headers["x-llm-agg-provider"]


def test_traffic_leaves_a_rate_limited_provider_and_comes_back_after_its_reset(
    router_gateway: Process, fake: FakeUpstream
) -> None:
    client = openai.OpenAI(base_url=router_gateway.url + "/v1", api_key="unused", max_retries=0)
    assert served_by(client) == "groq"
    fake.queue(
        "groq",
        {
            "status": 429,
            "headers": {
                "retry-after": "2",
                "x-ratelimit-limit-requests": "14400",
                "x-ratelimit-remaining-requests": "14000",
                "x-ratelimit-limit-tokens": "6000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "2s",
            },
            "body": {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
        },
    )
    # No client-visible error: the 429 is absorbed, then groq is left alone while it cools.
    assert [served_by(client) for _ in range(4)] == ["cerebras"] * 4
    groq_calls = [r for r in fake.received() if r["provider"] == "groq"]
    assert len(groq_calls) == 2
    time.sleep(2.2)
    assert served_by(client) == "groq"


def test_models_lists_provider_model_context_capabilities_free_and_status(
    router_gateway: Process,
) -> None:
    listing = subprocess.run(
        [str(BIN / "llm-agg"), "models", "--url", router_gateway.url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert listing[0].split() == ["PROVIDER", "MODEL", "CONTEXT", "CAPABILITIES", "FREE", "STATUS"]
    assert listing[1].split() == ["groq", "fake-model", "8192", "json,tools", "yes", "ready"]


def test_route_explain_calls_nobody_and_says_why(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "llm-agg"), "route", "--explain", "Write a python function to sort a list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "LLM_AGG_CONFIG": str(ROOT / "config/providers.yaml"),
        },
    )
    out = result.stdout
    assert "task code" in out
    assert "rule code: applies" in out
    first = next(line for line in out.splitlines() if line.strip().startswith("1."))
    assert "cerebras/qwen-3-coder-480b" in first
    assert "NOT CONFIGURED (set CEREBRAS_API_KEY)" in first
