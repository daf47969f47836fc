"""Failover end to end: `llm-agg serve` in front of the usage guide's high_availability chain
(groq, cerebras, openrouter, together), all four played by the fake upstream on loopback, and
the openai SDK, `llm-agg status` and /health as a user would use them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.harness import BIN, ROOT, FakeUpstream, Process, free_port, start_gateway
from tests.support.fixtures import headers, load

pytestmark = pytest.mark.e2e
HI = [{"role": "user", "content": "hi"}]
ADMIN_KEY = "sk-llmagg-admin-e2e-failover-51ab"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
CHAIN = ("groq", "cerebras", "openrouter", "together")
DOWN = {"status": 503, "body": {"error": {"message": "Service Unavailable"}}}


def chain_env(fake: FakeUpstream, **overrides: str) -> dict[str, str]:
    env = {
        "LLM_AGG_CONFIG": str(ROOT / "tests/e2e/guide_chain.yaml"),
        "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
    }
    for name in CHAIN:
        env[f"{name.upper()}_API_KEY"] = f"{name}-e2e-failover-key"
        env[f"{name.upper()}_BASE_URL"] = fake.base_url(name)
    return {**env, **overrides}


@pytest.fixture
def chain(tmp_path: Path, fake: FakeUpstream) -> Iterator[Process]:
    process = start_gateway(tmp_path, chain_env(fake))
    yield process
    process.stop()


def sdk(gateway: Process, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, **options)


def served_by(client: openai.OpenAI, **extra: Any) -> tuple[str, str]:
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HI, **extra)
    assert raw.parse().choices[0].message.content
    return raw.headers["x-llm-agg-provider"], raw.headers["x-llm-agg-attempts"]


def status(gateway: Process) -> dict[str, list[str]]:
    """`llm-agg status`, each provider's line split on two spaces or more."""
    done = subprocess.run(
        [str(BIN / "llm-agg"), "status", "--url", gateway.url, "--admin-key", ADMIN_KEY],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["PROVIDER", "ACCOUNT", "STATE"]
    return {
        line.split()[0]: [c.strip() for c in line.split("  ") if c.strip()] for line in lines[1:]
    }


def accounts(gateway: Process) -> dict[str, dict[str, Any]]:
    listing = httpx.get(gateway.url + "/admin/providers", headers=ADMIN, timeout=10).json()
    return {p["provider"]: p["accounts"][0] for p in listing["data"] if p["accounts"]}


def calls_to(fake: FakeUpstream, provider: str) -> int:
    return sum(1 for r in fake.received() if r["provider"] == provider)


def test_two_providers_of_the_chain_down_every_request_is_answered_and_status_says_so(
    chain: Process, fake: FakeUpstream
) -> None:
    # GIVEN groq and cerebras answer 503 to everything,
    fake.queue("groq", *[DOWN] * 40)
    fake.queue("cerebras", *[DOWN] * 40)
    client = sdk(chain)
    # WHEN requests come, THEN every one is answered by the chain's third provider, and once
    # their circuits are open the failing two are no longer tried first.
    answers = [served_by(client) for _ in range(6)]
    assert {provider for provider, _ in answers} == {"openrouter"}
    assert answers[0][1] == "3" and answers[-1][1] == "1"
    assert calls_to(fake, "groq") == calls_to(fake, "cerebras") == 3
    # AND the status tells the truth: failing until when, the last error, how many in a row.
    shown = status(chain)
    assert shown["groq"][2] == "failing" and shown["cerebras"][2] == "failing"
    assert shown["groq"][4] == "3" and "HTTP 503 (server)" in shown["groq"][5]
    assert shown["openrouter"][2] == "healthy" and shown["together"][2] == "healthy"
    health = httpx.get(chain.url + "/health", timeout=10).json()
    assert health["ready"] is True
    assert health["providers"]["groq"]["states"]["env"]["state"] == "failing"


def test_an_unreachable_provider_is_failed_over_and_shown(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    gateway = start_gateway(tmp_path, chain_env(fake, GROQ_BASE_URL=closed))
    try:
        assert served_by(sdk(gateway)) == ("cerebras", "2")
        groq = accounts(gateway)["groq"]
        assert groq["last_error"].startswith("connection (connection)")
        assert groq["last_error_at"] is not None
    finally:
        gateway.stop()


def test_a_dead_key_leaves_rotation_and_comes_back_after_a_check(
    chain: Process, fake: FakeUpstream
) -> None:
    refused = {"status": 401, "body": load("groq/error_401_invalid_api_key.json")}
    fake.queue("groq", refused)
    client = sdk(chain)
    assert [served_by(client)[0] for _ in range(3)] == ["cerebras"] * 3
    assert calls_to(fake, "groq") == 1  # the refused key was not sent again
    shown = status(chain)
    assert shown["groq"][2] == "key_refused" and "Invalid API Key" in " ".join(shown["groq"])
    # WHEN the user checks the key and the provider accepts it (the fake lists its models),
    check = httpx.post(chain.url + "/admin/credentials/groq/env/check", headers=ADMIN, timeout=10)
    assert check.json()["ok"] is True
    # THEN groq serves again.
    assert served_by(client)[0] == "groq"
    assert accounts(chain)["groq"]["state"] == "healthy"


def test_a_spent_daily_quota_parks_openrouter_account_wide_and_the_429_says_until_when(
    chain: Process, fake: FakeUpstream
) -> None:
    reset = time.time() + 5 * 3600
    spent = {
        "status": 429,
        "headers": {
            **headers("openrouter/error_429_response_headers.txt"),
            "x-ratelimit-reset": str(int(reset * 1000)),
        },
        "body": load("openrouter/error_429_free_model_daily.json"),
    }
    fake.queue("openrouter", spent)
    client = sdk(chain)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="auto", messages=HI, extra_body={"provider": "openrouter"}
        )
    assert calls_to(fake, "openrouter") == 1  # its other free model was not tried
    message = caught.value.response.json()["error"]["message"]
    assert "free-models-per-day" in message and "until" in message
    assert int(caught.value.response.headers["retry-after"]) > 4 * 3600
    assert accounts(chain)["openrouter"]["state"] == "quota_spent"
    # Auto traffic goes on elsewhere, without asking openrouter again.
    assert served_by(client)[0] == "groq"
    assert calls_to(fake, "openrouter") == 1


def test_a_trickling_body_times_out_and_fails_over(chain: Process, fake: FakeUpstream) -> None:
    fake.queue("groq", {"trickle": 20})
    started = time.monotonic()
    assert served_by(sdk(chain)) == ("cerebras", "2")
    assert time.monotonic() - started < 10  # the catalog's 1 s timeout, not the 20 s trickle
    assert "timeout" in accounts(chain)["groq"]["last_error"]


def stream(gateway: Process) -> Any:
    body = {"model": "auto", "messages": HI, "stream": True}
    return httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, timeout=15)


def disconnects(fake: FakeUpstream) -> int:
    """The clients the fake saw leave, once they had a few seconds to do so."""
    deadline = time.monotonic() + 5
    while fake.disconnects() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    return fake.disconnects()


def test_a_stalled_stream_ends_with_an_error_event(chain: Process, fake: FakeUpstream) -> None:
    fake.queue("groq", {"stall_after": 2, "stall": 20})
    with stream(chain) as response:
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data:")]
    assert json.loads(events[-1][5:])["error"]["code"] == "upstream_stream_stalled"
    assert "data: [DONE]" not in events


def test_a_client_that_leaves_cancels_the_upstream_call(chain: Process, fake: FakeUpstream) -> None:
    fake.queue("groq", {"hold": 30})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            chain.url + "/v1/chat/completions", json={"model": "auto", "messages": HI}, timeout=0.5
        )
    assert disconnects(fake) == 1


def test_a_streaming_client_that_leaves_cancels_the_upstream_stream(
    chain: Process, fake: FakeUpstream
) -> None:
    fake.queue("groq", {"delay": 0.3})
    with stream(chain) as response:
        next(response.iter_lines())  # the first event, then the client goes
    assert disconnects(fake) == 1
