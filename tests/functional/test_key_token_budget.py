"""A key's tokens_per_day holds under concurrency: each request holds what it may use while in
flight, and gives back what it did not use once its answer has gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from llm_agg.limits.keys import tokens_today
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg_local.server import PathRouter, create_app
from tests.functional.gateway import ADMIN, GROQ, make_settings

pytestmark = pytest.mark.anyio
USED = 10  # tokens of each answer below


def answer() -> dict[str, object]:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": USED},
    }


async def slow_answer(_: httpx.Request) -> httpx.Response:
    await asyncio.sleep(0.05)  # keeps many requests in flight at once
    return httpx.Response(200, json=answer())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, GROQ_API_KEY="gsk_budget_0001", LLM_AGG_REQUIRE_AUTH="1")


@pytest.fixture
def app(settings: Settings) -> PathRouter:
    return create_app(settings)


@pytest.fixture
def runtime(app: PathRouter) -> Runtime:
    return app.runtime


@pytest.fixture
async def client(app: PathRouter) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=60) as c:
        yield c
    await app.runtime.aclose()


async def new_key(client: httpx.AsyncClient, tokens_per_day: int) -> tuple[str, str]:
    made = await client.post("/admin/keys", json={"tokens_per_day": tokens_per_day}, headers=ADMIN)
    return made.json()["key"], made.json()["id"]


async def used(runtime: Runtime, key_id: str) -> int:
    await runtime.background.drain()
    return tokens_today(runtime.stored.stores.counters, key_id, time.time())


def chat(client: httpx.AsyncClient, key: str, **extra: object) -> object:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], **extra}
    return client.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
    )


# The same request on each route that spends a key's tokens: at most 10 completion tokens.
ROUTES = {
    "/v1/chat/completions": {"model": "fake-model", "max_tokens": 10},
    "/v1/messages": {"model": "fake-model", "max_tokens": 10},
    "/v1/responses": {"model": "fake-model", "max_output_tokens": 10, "input": "hi"},
}


@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_hundred_parallel_requests_never_spend_past_the_days_tokens(
    client: httpx.AsyncClient, runtime: Runtime, route: str
) -> None:
    key, key_id = await new_key(client, tokens_per_day=100)
    body = dict(ROUTES[route])
    if "input" not in body:
        body["messages"] = [{"role": "user", "content": "hi"}]
    headers = {"authorization": f"Bearer {key}"}
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{GROQ}/chat/completions").mock(side_effect=slow_answer)
        answers = await asyncio.gather(
            *(client.post(route, json=body, headers=headers) for _ in range(100))
        )
        calls = router.calls.call_count
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 429}
    assert 1 <= statuses.count(200) == calls <= 100 // USED
    assert await used(runtime, key_id) == USED * calls <= 100
    refused = next(a for a in answers if a.status_code == 429)
    assert "retry-after" in refused.headers


async def test_a_request_without_a_cap_takes_what_is_left_and_gives_back_the_rest(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key, key_id = await new_key(client, tokens_per_day=100)
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{GROQ}/chat/completions").respond(200, json=answer())
        for _ in range(3):  # each holds all 100 while in flight, then keeps only its 10
            response = await chat(client, key)
            assert response.status_code == 200  # type: ignore[attr-defined]
            await used(runtime, key_id)
    assert await used(runtime, key_id) == 3 * USED


async def test_a_stream_gives_back_its_hold_when_it_ends(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key, key_id = await new_key(client, tokens_per_day=1000)
    chunk = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}\n\n'
        b"data: [DONE]\n\n"
    )
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{GROQ}/chat/completions").respond(
            200, content=chunk, headers={"content-type": "text/event-stream"}
        )
        response = await chat(client, key, stream=True, max_tokens=50)
        assert response.status_code == 200  # type: ignore[attr-defined]
    assert await used(runtime, key_id) == USED


async def test_a_failed_request_gives_back_all_it_held(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key, key_id = await new_key(client, tokens_per_day=1000)
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{GROQ}/chat/completions").respond(503, json={"error": {"message": "down"}})
        response = await chat(client, key, max_tokens=50)
        assert response.status_code == 502  # type: ignore[attr-defined]
        bad = await chat(client, key, messages=[])
        assert bad.status_code == 400  # type: ignore[attr-defined]
    assert await used(runtime, key_id) == 0
