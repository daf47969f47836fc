"""The router in the request path: quota, cooldowns, failover and usage, providers mocked."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest
import respx

from llm_agg.store.base import Stores
from tests.fakes.memory_stores import memory_stores
from tests.functional.router_support import (
    BODY,
    CEREBRAS,
    GROQ,
    Clock,
    client,
    completion,
    router_app,
)
from tests.functional.stores import BACKENDS, open_test_stores

pytestmark = pytest.mark.anyio

TWO_PROVIDERS = """
providers:
  groq:
    models:
      - {id: shared, quality: 5, speed: 5, limits: {rpm: RPM}}
  cerebras:
    models:
      - {id: shared, quality: 3, speed: 3, limits: {rpm: RPM}}
"""


def two_providers(rpm: int) -> str:
    return TWO_PROVIDERS.replace("RPM", str(rpm))


@respx.mock
async def test_429_moves_traffic_to_the_next_provider_and_back_after_reset(tmp_path: Path) -> None:
    clock = Clock()
    groq = respx.post(GROQ).mock(
        side_effect=[
            httpx.Response(
                429, json={"error": {"message": "slow down"}}, headers={"retry-after": "30"}
            ),
            httpx.Response(200, json=completion("from groq")),
        ]
    )
    cerebras = respx.post(CEREBRAS).mock(
        return_value=httpx.Response(200, json=completion("from cerebras"))
    )
    with router_app(tmp_path, two_providers(100), memory_stores(clock), clock) as (app, _):
        async with client(app) as http:
            first = await http.post("/v1/chat/completions", json=BODY)
            assert first.status_code == 200
            assert first.headers["x-llm-agg-provider"] == "cerebras"
            assert first.headers["x-llm-agg-attempts"] == "2"
            second = await http.post("/v1/chat/completions", json=BODY)
            assert second.headers["x-llm-agg-provider"] == "cerebras"
            assert groq.call_count == 1  # cooling down: not asked again
            clock.now += 31
            third = await http.post("/v1/chat/completions", json=BODY)
            assert third.headers["x-llm-agg-provider"] == "groq"
    assert cerebras.call_count == 2


@respx.mock
async def test_every_candidate_out_of_quota_is_429_naming_providers_and_retry_after(
    tmp_path: Path,
) -> None:
    clock = Clock(1_800_000_030.0)  # half way through a minute
    respx.post(GROQ).mock(return_value=httpx.Response(200, json=completion()))
    respx.post(CEREBRAS).mock(return_value=httpx.Response(200, json=completion()))
    with router_app(tmp_path, two_providers(1), memory_stores(clock), clock) as (app, _):
        async with client(app) as http:
            served = [await http.post("/v1/chat/completions", json=BODY) for _ in range(2)]
            assert [r.headers["x-llm-agg-provider"] for r in served] == ["groq", "cerebras"]
            refused = await http.post("/v1/chat/completions", json=BODY)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert "groq until 08:01:00Z (1 requests per minute used up)" in error["message"]
    assert "cerebras until 08:01:00Z" in error["message"]


@respx.mock
async def test_headers_announcing_zero_left_skip_the_account_until_reset(tmp_path: Path) -> None:
    clock = Clock()
    exhausted = {
        "x-ratelimit-limit-requests": "1000",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m30s",
    }
    groq = respx.post(GROQ).mock(
        return_value=httpx.Response(200, json=completion(), headers=exhausted)
    )
    respx.post(CEREBRAS).mock(return_value=httpx.Response(200, json=completion()))
    with router_app(tmp_path, two_providers(100), memory_stores(clock), clock) as (app, _):
        async with client(app) as http:
            assert (await http.post("/v1/chat/completions", json=BODY)).headers[
                "x-llm-agg-provider"
            ] == "groq"
            after = await http.post("/v1/chat/completions", json=BODY)
            assert after.headers["x-llm-agg-provider"] == "cerebras"
            assert after.headers["x-llm-agg-attempts"] == "1"  # skipped without a call
            clock.now += 91
            assert (await http.post("/v1/chat/completions", json=BODY)).headers[
                "x-llm-agg-provider"
            ] == "groq"
    assert groq.call_count == 2


@respx.mock
async def test_a_stream_announcing_zero_left_skips_the_account_until_reset(
    tmp_path: Path,
) -> None:
    # A stream's rate-limit headers are read once its first frames are out: still in time for
    # the next request.
    clock = Clock()
    exhausted = {
        "content-type": "text/event-stream",
        "x-ratelimit-limit-requests": "1000",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m30s",
    }
    chunk = orjson.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
    stream = b"data: " + chunk + b"\n\ndata: [DONE]\n\n"
    groq = respx.post(GROQ).mock(
        side_effect=lambda request: httpx.Response(200, content=stream, headers=exhausted)
    )
    respx.post(CEREBRAS).mock(return_value=httpx.Response(200, json=completion()))
    with router_app(tmp_path, two_providers(100), memory_stores(clock), clock) as (app, _):
        async with client(app) as http:
            streamed = await http.post("/v1/chat/completions", json={**BODY, "stream": True})
            assert streamed.headers["x-llm-agg-provider"] == "groq"
            assert streamed.text.endswith("data: [DONE]\n\n")
            after = await http.post("/v1/chat/completions", json=BODY)
            assert after.headers["x-llm-agg-provider"] == "cerebras"
            assert after.headers["x-llm-agg-attempts"] == "1"  # skipped without a call
    assert groq.call_count == 1


@respx.mock
async def test_every_attempt_is_recorded_after_the_response(tmp_path: Path) -> None:
    clock = Clock()
    stores = memory_stores(clock)
    respx.post(GROQ).mock(return_value=httpx.Response(503, json={"error": {"message": "busy"}}))
    respx.post(CEREBRAS).mock(
        return_value=httpx.Response(200, json=completion(prompt=5, completion_tokens=3))
    )
    with router_app(tmp_path, two_providers(100), stores, clock) as (app, runtime):
        async with client(app) as http:
            assert (await http.post("/v1/chat/completions", json=BODY)).status_code == 200
            await runtime.usage.flush()
    events = stores.usage.events  # type: ignore[attr-defined]
    assert [(e.provider, e.ok) for e in events] == [("groq", False), ("cerebras", True)]
    served = events[1]
    assert (served.prompt_tokens, served.completion_tokens, served.account_id) == (5, 3, "env")
    assert served.day == "2027-01-15"
    assert served.gateway_key == "-"


DELTA = {"index": 0, "delta": {"content": "hi"}, "finish_reason": None}


def sse(*chunks: dict[str, object]) -> httpx.Response:
    """A streamed answer of these chunks, then [DONE]."""
    base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    body = b"".join(b"data: " + orjson.dumps({**base, **chunk}) + b"\n\n" for chunk in chunks)
    return httpx.Response(
        200, content=body + b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
    )


@respx.mock
async def test_a_stream_is_recorded_at_its_end_with_its_usage(tmp_path: Path) -> None:
    clock = Clock()
    stores = memory_stores(clock)
    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    respx.post(GROQ).mock(return_value=sse({"choices": [DELTA]}, {"choices": [], "usage": usage}))
    with router_app(tmp_path, two_providers(100), stores, clock) as (app, runtime):
        async with client(app) as http:
            response = await http.post("/v1/chat/completions", json={**BODY, "stream": True})
            assert response.status_code == 200
            assert b"[DONE]" in response.content
            await runtime.usage.flush()
    (event,) = stores.usage.events  # type: ignore[attr-defined]
    assert (event.provider, event.ok, event.prompt_tokens, event.completion_tokens) == (
        "groq",
        True,
        4,
        2,
    )


@contextmanager
def backend_stores(kind: str, tmp: Path, clock: Clock) -> Iterator[Stores]:
    if kind == "memory":
        yield memory_stores(clock)
        return
    with open_test_stores(kind, tmp, clock) as stores:
        yield stores


@pytest.mark.parametrize("backend", BACKENDS)
@respx.mock
async def test_a_429_then_an_answer_counts_one_rate_limited_error_and_one_failover(
    tmp_path: Path, backend: str
) -> None:
    clock = Clock()
    respx.post(GROQ).mock(
        return_value=httpx.Response(429, json={"error": {"message": "slow down"}})
    )
    respx.post(CEREBRAS).mock(return_value=httpx.Response(200, json=completion()))
    with (
        backend_stores(backend, tmp_path, clock) as stores,
        router_app(tmp_path, two_providers(100), stores, clock) as (app, runtime),
    ):
        async with client(app) as http:
            response = await http.post("/v1/chat/completions", json=BODY)
            assert response.headers["x-llm-agg-attempts"] == "2"
            again = await http.post("/v1/chat/completions", json=BODY)  # groq cools: 1 try
            assert again.headers["x-llm-agg-attempts"] == "1"
            await runtime.usage.flush()
        rows = {r.provider: r for r in stores.usage.query("2027-01-15", "2027-01-15")}
    groq, cerebras = rows["groq"], rows["cerebras"]
    assert (groq.requests, groq.errors, dict(groq.errors_by_kind)) == (1, 1, {"rate_limited": 1})
    assert (cerebras.requests, cerebras.errors, cerebras.failovers) == (2, 0, 1)
    assert groq.failovers == 0 and dict(cerebras.errors_by_kind) == {}


@respx.mock
async def test_a_stream_served_after_a_failed_attempt_is_recorded_as_attempt_two(
    tmp_path: Path,
) -> None:
    clock = Clock()
    stores = memory_stores(clock)
    respx.post(GROQ).mock(return_value=httpx.Response(503, json={"error": {"message": "busy"}}))
    respx.post(CEREBRAS).mock(return_value=sse({"choices": [DELTA]}))
    with router_app(tmp_path, two_providers(100), stores, clock) as (app, runtime):
        async with client(app) as http:
            response = await http.post("/v1/chat/completions", json={**BODY, "stream": True})
            assert b"[DONE]" in response.content
            await runtime.usage.flush()
    events = stores.usage.events  # type: ignore[attr-defined]
    assert [(e.provider, e.outcome, e.attempt) for e in events] == [
        ("groq", "server", 1),
        ("cerebras", "ok", 2),
    ]
    assert [e.failed_over for e in events] == [False, True]


@pytest.mark.parametrize("backend", ["memory", *BACKENDS])
@respx.mock
async def test_200_concurrent_requests_send_exactly_the_limit_to_each_account(
    tmp_path: Path, backend: str
) -> None:
    clock = Clock()
    sent: Counter[str] = Counter()

    def answer(request: httpx.Request) -> httpx.Response:
        sent[request.headers["authorization"]] += 1
        return httpx.Response(200, json=completion())

    respx.post(GROQ).mock(side_effect=answer)
    respx.post(CEREBRAS).mock(side_effect=answer)
    with (
        backend_stores(backend, tmp_path, clock) as stores,
        router_app(tmp_path, two_providers(50), stores, clock) as (app, runtime),
    ):
        # A second groq account, stored as `llm-agg configure` would store it.
        await asyncio.to_thread(runtime.stored.vault.put, "groq", "a2", "gsk_test_0003")
        async with client(app) as http:
            answers = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=BODY) for _ in range(200))
            )
        await runtime.aclose()
    statuses = Counter(a.status_code for a in answers)
    assert sent == {
        "Bearer gsk_test_0001": 50,
        "Bearer gsk_test_0003": 50,
        "Bearer csk_test_0002": 50,
    }
    assert statuses == {200: 150, 429: 50}
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["retry-after"] == "60"
    assert "groq until 08:01:00Z" in refused.json()["error"]["message"]


class BrokenCounters:
    def increment(self, key: str, amount: int, expires_at: float, limit: int | None = None) -> int:
        raise OSError("disk full")

    def get(self, key: str) -> int:
        raise OSError("disk full")


@respx.mock
async def test_a_failing_quota_store_does_not_stop_traffic(tmp_path: Path) -> None:
    clock = Clock()
    stores = dataclasses.replace(memory_stores(clock), counters=BrokenCounters())
    respx.post(GROQ).mock(return_value=httpx.Response(200, json=completion()))
    with router_app(tmp_path, two_providers(1), stores, clock) as (app, _):
        async with client(app) as http:
            answers = [await http.post("/v1/chat/completions", json=BODY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]


DISCOVERED = """
providers:
  groq:
    models:
      - {id: retired, quality: 5, speed: 5}
      - {id: current, quality: 3, speed: 3}
  openrouter:
    models:
      - {id: "known:free", quality: 3, speed: 3}
"""


@respx.mock
async def test_models_a_provider_stops_listing_stop_being_routed_and_new_free_ones_join(
    tmp_path: Path,
) -> None:
    clock = Clock()
    groq_list = {"object": "list", "data": [{"id": "current", "object": "model"}]}
    listed = respx.get("https://api.groq.com/openai/v1/models").respond(200, json=groq_list)
    openrouter_list = {
        "data": [
            {"id": "known:free", "pricing": {"prompt": "0", "completion": "0"}},
            {"id": "fresh/model:free", "context_length": 65536, "pricing": {"prompt": "0"}},
        ]
    }
    respx.get("https://openrouter.ai/api/v1/models").respond(200, json=openrouter_list)
    respx.get("https://api.cerebras.ai/v1/models").respond(503)  # unknown: nothing changes
    groq = respx.post(GROQ).respond(200, json=completion())
    env = {"OPENROUTER_API_KEY": "sk-or-test"}
    stores = memory_stores(clock)
    with router_app(tmp_path, DISCOVERED, stores, clock, env, discovery_interval=3600) as (
        app,
        runtime,
    ):
        async with client(app) as http:
            await http.post("/v1/chat/completions", json=BODY)  # starts discovery
            assert runtime._discovering is not None
            await runtime._discovering
            answer = await http.post("/v1/chat/completions", json=BODY)
            again = await http.post("/v1/chat/completions", json=BODY)  # not due: not asked
        await runtime.background.drain()
    assert answer.headers["x-llm-agg-model"] == "current"
    assert runtime.vanished == ["groq/retired"]
    fresh = runtime.view.model("openrouter", "fresh/model:free")
    assert fresh is not None and fresh.free and fresh.context == 65536
    assert again.status_code == 200 and listed.call_count == 1
    assert groq.calls[0].request.url.path.endswith("/chat/completions")
    assert "models|groq" in stores.expiring.values  # type: ignore[attr-defined]
