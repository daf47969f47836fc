"""The router end to end: the openai SDK against `llm-agg serve` and two fake providers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.harness import BIN, ROOT, FakeUpstream, Process, start_gateway

pytestmark = pytest.mark.e2e
HI = [{"role": "user", "content": "hi"}]


ADMIN_KEY = "sk-llmagg-admin-e2e-router-7c1da2b4"
CATALOG = """
providers:
  groq:
    timeout: 2
    models:
      - {id: fake-model, context: 8192, capabilities: [tools, json], quality: 4, speed: 5,
         limits: {rpm: 100, rpd: 1000}}
  cerebras:
    timeout: 2
    models:
      - {id: fake-model, context: 8192, capabilities: [tools, json], quality: 3, speed: 4,
         limits: {rpm: 100}}
"""


@pytest.fixture
def router_gateway(tmp_path: Path, fake: FakeUpstream) -> Iterator[Process]:
    config = tmp_path / "providers.yaml"
    config.write_text(CATALOG)
    env = {
        "LLM_AGG_CONFIG": str(config),
        "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
        **fake.provider_env("router"),
    }
    process = start_gateway(tmp_path, env)
    yield process
    process.stop()


def cli(*args: str) -> list[str]:
    done = subprocess.run(
        [str(BIN / "llm-agg"), *args], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.splitlines()


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


RATE_LIMITED = {
    "status": 429,
    "headers": {"retry-after": "30"},
    "body": {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
}


def test_status_and_stats_show_cooldowns_quota_and_usage(
    router_gateway: Process, fake: FakeUpstream
) -> None:
    client = openai.OpenAI(base_url=router_gateway.url + "/v1", api_key="unused", max_retries=0)
    assert served_by(client) == "groq"
    fake.queue("groq", RATE_LIMITED)
    assert served_by(client) == "cerebras"
    admin = ("--url", router_gateway.url, "--admin-key", ADMIN_KEY)
    status = {row.split()[0]: row for row in cli("status", *admin)[1:]}
    assert "fake-model until" in status["groq"] and "(groq answered 429)" in status["groq"]
    assert "fake-model 98/100 rpm" in status["groq"]  # two sent: the answer and the 429
    assert "fake-model 99/100 rpm" in status["cerebras"]
    assert status["groq"].split()[2] == "healthy"  # one model cooling: the account serves
    assert status["together"].split()[1:] == ["-", "not", "configured"]
    # Usage is written in batches after the answers: asked until the three records are in
    # (a loaded machine can take longer than one batch interval).
    deadline = time.monotonic() + 15
    while True:
        stats = [row.split() for row in cli("stats", *admin)]
        requests = {row[1]: row[3] for row in stats[1:] if row[2:3] == ["fake-model"]}
        if requests.get("groq") == "2" and requests.get("cerebras") == "1":
            break
        assert time.monotonic() < deadline, stats
        time.sleep(0.2)
    assert stats[0][:2] == ["usage", "from"]
    groq = next(row for row in stats if row[1:3] == ["groq", "fake-model"])
    assert groq[3:6] == ["2", "1", "50.0%"]  # requests, errors, success rate
    assert groq[10:] == ["0", "rate_limited:1"]  # failovers, errors by kind
    cerebras = next(row for row in stats if row[1:3] == ["cerebras", "fake-model"])
    assert cerebras[3:8] == ["1", "0", "100.0%", "11", "7"]
    assert cerebras[10:] == ["1", "-"]  # served on the second attempt, after groq's 429
    assert stats[0][-7:-4] == ["(rate_limited:1),", "66.7%", "answered,"]
    assert stats[0][-4:] == ["1", "served", "after", "failover"]


def test_route_explain_calls_nobody_and_says_why(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LLM_AGG_DATA_DIR": str(tmp_path / "data"),
        "LLM_AGG_CONFIG": str(ROOT / "config/providers.yaml"),
    }
    # A stored account counts as configured, as much as a key in the environment.
    configure = ["configure", "--provider", "groq", "--account", "a1", "--key-stdin"]
    subprocess.run(
        [str(BIN / "llm-agg"), *configure, "--no-verify"],
        input="gsk_stored_0001\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result = subprocess.run(
        [str(BIN / "llm-agg"), "route", "--explain", "Write a python function to sort a list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=env,
    )
    lines = result.stdout.splitlines()
    assert "request: task code (code), ~13 prompt tokens" in lines
    assert "rule code: applies" in lines
    first = next(line for line in lines if line.strip().startswith("1."))
    assert "cerebras/qwen-3-coder-480b: named by rule code" in first
    assert "NOT CONFIGURED (set CEREBRAS_API_KEY)" in first
    second = next(line for line in lines if line.strip().startswith("2."))
    assert "groq/moonshotai/kimi-k2-instruct-0905" in second
    assert "NOT CONFIGURED" not in second


def test_two_workers_share_one_quota(tmp_path: Path, fake: FakeUpstream) -> None:
    config = tmp_path / "providers.yaml"
    config.write_text(
        "providers:\n  groq:\n    models:\n      - {id: fake-model, limits: {rpm: 10}}\n"
    )
    env = {
        "LLM_AGG_CONFIG": str(config),
        "GROQ_API_KEY": "gsk_workers_0001",
        "GROQ_BASE_URL": fake.base_url("groq"),
    }
    gateway = start_gateway(tmp_path, env, "--workers", "2")
    try:
        body = {"model": "auto", "messages": HI}
        with httpx.Client(base_url=gateway.url, timeout=30) as http, ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda _: http.post("/v1/chat/completions", json=body).status_code, range(30)
                )
            )
    finally:
        gateway.stop()
    assert sorted(statuses) == [200] * 10 + [429] * 20
    assert len([r for r in fake.received() if r["provider"] == "groq"]) == 10
