"""Chaos: three providers behind the real gateway, two of them answering with random faults
(503, a stream broken off, stalls, 429 with and without headers, a refused key) over a few
hundred requests, streaming and not, sent concurrently. While one provider stays healthy,
every request is answered (a stream already started may end with an error event, never
silently), no attempt is hidden or lost, and the status and usage say what was injected."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import ROOT, FakeUpstream, Process, start_gateway
from tests.e2e.test_failover_e2e import ADMIN, accounts, chain_env

pytestmark = pytest.mark.e2e

REQUESTS = 240
CLIENTS = 8  # requests under way at once
SEED = 20261206
FAULTY = ("groq", "cerebras")

# What each injected answer becomes in the usage record of its attempt, for a stream and for
# a plain call ("ok": served; a fault the plain call does not see is an answer to it).
FAULTS: dict[str, tuple[dict[str, Any], str, str]] = {
    "ok": ({}, "ok", "ok"),
    "503": ({"status": 503, "body": {"error": {"message": "overloaded"}}}, "server", "server"),
    "429": ({"status": 429, "headers": {"retry-after": "1"}}, "rate_limited", "rate_limited"),
    "429 bare": ({"status": 429}, "rate_limited", "rate_limited"),
    "broken": ({"break_after": 1}, "server", "ok"),
    "empty": ({"break_after": 0}, "server", "ok"),
    "hold": ({"hold": 3}, "timeout", "timeout"),
    "stall": ({"stall_after": 1, "stall": 3}, "timeout", "ok"),
}
FAULTS["401"] = (
    {"status": 401, "body": {"error": {"message": "Invalid key"}}},
    "account",
    "account",
)
WEIGHTS = {"ok": 70, "503": 10, "429": 4, "429 bare": 2, "broken": 4, "empty": 3, "hold": 2}
WEIGHTS["stall"] = 2


def scripts(rng: random.Random, refused_at: int | None) -> list[str]:
    names = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=REQUESTS)
    if refused_at is not None:
        names[refused_at] = "401"
    return names


@pytest.fixture
def gateway(tmp_path: Path, fake: FakeUpstream) -> Iterator[Process]:
    # The healthy provider has quota enough: 50 a day would end in 429s, rightly.
    catalog = tmp_path / "chain.yaml"
    chain = (ROOT / "tests/e2e/guide_chain.yaml").read_text()
    catalog.write_text(chain.replace("    limits: {rpd: 50}\n", ""))
    env = chain_env(fake, TOGETHER_API_KEY="", LLM_AGG_CONFIG=str(catalog))
    process = start_gateway(tmp_path, env)
    yield process
    process.stop()


def ask(gateway: Process, stream: bool) -> dict[str, Any]:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    url = gateway.url + "/v1/chat/completions"
    if not stream:
        response = httpx.post(url, json=body, timeout=30)
        return {
            "status": response.status_code,
            "attempts": response.headers.get("x-llm-agg-attempts"),
        }
    with httpx.stream("POST", url, json=body, timeout=30) as response:
        events = [line[5:].strip() for line in response.iter_lines() if line.startswith("data:")]
    return {
        "status": response.status_code,
        "attempts": response.headers.get("x-llm-agg-attempts"),
        "end": "done"
        if events and events[-1] == "[DONE]"
        else "error"
        if events and "error" in json.loads(events[-1])
        else "silent",
    }


def test_while_one_provider_is_healthy_every_request_is_answered_and_accounted_for(
    gateway: Process, fake: FakeUpstream
) -> None:
    rng = random.Random(SEED)
    injected = {"groq": scripts(rng, None), "cerebras": scripts(rng, rng.randrange(5, 15))}
    for provider in FAULTY:
        fake.queue(provider, *[FAULTS[name][0] for name in injected[provider]])
    streams = [rng.random() < 0.5 for _ in range(REQUESTS)]
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda s: ask(gateway, s), streams))
    assert time.monotonic() - started < 150

    # Every request answered: 200, and a stream ends with [DONE] or an error event.
    assert Counter(r["status"] for r in results) == {200: REQUESTS}, f"seed {SEED}"
    ends = Counter(r["end"] for r in results if "end" in r)
    assert ends["silent"] == 0 and ends["done"] > 0

    # None hidden or lost: the attempts the gateway reported are the calls the fake received.
    received = fake.received()
    assert sum(int(r["attempts"]) for r in results) == len(received)

    # The usage records say what was injected, attempt by attempt.
    time.sleep(1.5)  # usage is written in batches after the answers
    expected: dict[str, Counter[str]] = {p: Counter() for p in (*FAULTY, "openrouter")}
    seen: Counter[str] = Counter()
    for call in received:
        provider = call["provider"]
        if provider == "openrouter":
            expected[provider]["ok"] += 1
            continue
        name = injected[provider][seen[provider]]
        seen[provider] += 1
        _, if_stream, if_plain = FAULTS[name]
        expected[provider][if_stream if call["body"].get("stream") else if_plain] += 1
    stats = httpx.get(gateway.url + "/admin/usage-stats", headers=ADMIN, timeout=10).json()
    for provider, counts in expected.items():
        mine = stats["by"]["provider"][provider]
        errors = {k: n for k, n in counts.items() if k != "ok"}
        assert mine["requests"] == sum(counts.values()), provider
        assert mine["errors_by_kind"] == errors, provider

    # And the status: cerebras's key was refused (never sent again), openrouter never failed.
    shown = accounts(gateway)
    assert shown["cerebras"]["state"] == "key_refused"
    after = [c for c in received if c["provider"] == "cerebras"]
    refusal = injected["cerebras"].index("401")
    # Sent after the refusal: only calls already under way when it came (8 clients at once).
    assert refusal < len(after) <= refusal + CLIENTS
    assert shown["openrouter"]["last_error"] is None
    assert shown["groq"]["state"] in ("healthy", "failing", "cooling_down")
