"""Failover under the ordinary failures, over ASGI with respx upstreams: a provider down or
unreachable, a dead key, a spent daily quota, a stalled body or stream; and what the status
says after each. The catalog is the usage guide's high_availability chain
(groq, cerebras, openrouter, together)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg_local.server import create_app
from tests.functional.gateway import ADMIN, ADMIN_KEY
from tests.support.fixtures import headers, load, raw

pytestmark = pytest.mark.anyio

CHAIN = Path(__file__).resolve().parents[1] / "e2e" / "guide_chain.yaml"
PROVIDERS = ("groq", "cerebras", "openrouter", "together")
URL = {p: f"http://{p}.test/v1/chat/completions" for p in PROVIDERS}
HELLO = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def answer(model: str = "m") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def down(status: int = 503, message: str = "Service Unavailable") -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "server_error"}})


class Gateway:
    def __init__(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime

    async def chat(self, **extra: Any) -> httpx.Response:
        return await self.client.post("/v1/chat/completions", json={**HELLO, **extra})

    async def accounts(self) -> dict[str, dict[str, Any]]:
        """Each provider's env account as /admin/providers shows it."""
        listing = (await self.client.get("/admin/providers", headers=ADMIN)).json()["data"]
        return {p["provider"]: a for p in listing for a in p["accounts"] if a["source"] == "env"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    environ = {"LLM_AGG_ADMIN_KEY": ADMIN_KEY}
    for name in PROVIDERS:
        environ[f"{name.upper()}_API_KEY"] = f"{name}-key-0001"
        environ[f"{name.upper()}_BASE_URL"] = f"http://{name}.test/v1"
    settings = Settings(
        config_path=CHAIN, data_dir=tmp_path / "data", environ=environ, admin_key=ADMIN_KEY
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield Gateway(client, app.runtime)
    await app.runtime.aclose()


def models_of(route: respx.Route) -> list[str]:
    import orjson

    return [orjson.loads(call.request.content)["model"] for call in route.calls]


@respx.mock
async def test_one_provider_down_sends_the_next_attempt_to_another_provider(gw: Gateway) -> None:
    groq = respx.post(URL["groq"]).mock(return_value=down())
    respx.post(URL["cerebras"]).respond(200, json=answer())
    response = await gw.chat()
    assert response.status_code == 200
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert response.headers["x-llm-agg-attempts"] == "2"
    assert groq.call_count == 1  # not groq's next model: another provider first


@respx.mock
async def test_the_guide_chain_with_two_providers_down_reaches_the_third(gw: Gateway) -> None:
    groq = respx.post(URL["groq"]).mock(return_value=down())
    cerebras = respx.post(URL["cerebras"]).mock(return_value=down(502, "Bad Gateway"))
    openrouter = respx.post(URL["openrouter"]).respond(200, json=answer())
    first = await gw.chat()
    assert first.status_code == 200
    assert first.headers["x-llm-agg-provider"] == "openrouter"
    assert first.headers["x-llm-agg-attempts"] == "3"
    for _ in range(2):
        assert (await gw.chat()).headers["x-llm-agg-provider"] == "openrouter"
    # Three failures in a row opened both circuits: now openrouter is tried first.
    fourth = await gw.chat()
    assert fourth.headers["x-llm-agg-attempts"] == "1"
    assert (groq.call_count, cerebras.call_count, openrouter.call_count) == (3, 3, 4)
    accounts = await gw.accounts()
    assert accounts["groq"]["state"] == "failing"
    assert accounts["groq"]["circuit"] == "open"
    assert accounts["groq"]["state_until"] > gw.runtime.clock()
    assert accounts["groq"]["last_error"].startswith("HTTP 503 (server)")
    assert accounts["groq"]["consecutive_errors"] == 3
    assert accounts["groq"]["last_error_at"] is not None
    assert accounts["cerebras"]["state"] == "failing"
    assert accounts["openrouter"]["state"] == "healthy"
    health = (await gw.client.get("/health")).json()
    assert health["ready"] is True
    assert health["providers"]["groq"]["states"]["env"]["state"] == "failing"


@respx.mock
async def test_a_recovered_provider_is_probed_and_its_circuit_closes(gw: Gateway) -> None:
    groq = respx.post(URL["groq"]).mock(return_value=down())
    respx.post(URL["cerebras"]).respond(200, json=answer())
    for _ in range(3):
        await gw.chat()
    assert (await gw.accounts())["groq"]["state"] == "failing"
    groq.mock(return_value=httpx.Response(200, json=answer()))
    circuits = gw.runtime.quota.circuits
    for key, circuit in list(circuits._circuits.items()):  # the backoff is over
        circuits._circuits[key] = circuit.__class__(
            *key, circuit.opened, gw.runtime.clock() - 1, circuit.last_error, circuit.at, 3
        )
    probe = await gw.chat()
    assert probe.headers["x-llm-agg-provider"] == "groq"
    assert (await gw.accounts())["groq"]["state"] == "healthy"
    assert (await gw.accounts())["groq"]["circuit"] == "closed"


@respx.mock
async def test_an_unreachable_provider_fails_over_and_is_not_charged(gw: Gateway) -> None:
    groq = respx.post(URL["groq"]).mock(side_effect=httpx.ConnectError("connection refused"))
    respx.post(URL["cerebras"]).respond(200, json=answer())
    response = await gw.chat()
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert (await gw.accounts())["groq"]["last_error"].startswith("connection (connection)")
    # WHEN groq is reachable again and answers, THEN only that answer counts against its day.
    groq.mock(side_effect=None, return_value=httpx.Response(200, json=answer()))
    assert (await gw.chat()).headers["x-llm-agg-provider"] == "groq"
    await gw.runtime.background.drain()
    quota = (await gw.accounts())["groq"]["quota"]
    # The refused connection was charged before the call, then given back.
    assert sum(q["used"] for q in quota if q["name"] == "rpd") == 1


@respx.mock
async def test_a_dead_key_leaves_rotation_until_a_check_finds_it_working(gw: Gateway) -> None:
    refused = httpx.Response(401, content=raw("groq/error_401_invalid_api_key.json"))
    groq = respx.post(URL["groq"]).mock(return_value=refused)
    respx.post(URL["cerebras"]).respond(200, json=answer())
    for _ in range(3):
        assert (await gw.chat()).headers["x-llm-agg-provider"] == "cerebras"
    assert groq.call_count == 1  # refused once, then left alone
    groq_env = (await gw.accounts())["groq"]
    assert groq_env["state"] == "key_refused"
    assert "Invalid API Key" in groq_env["parked"]["message"]
    assert groq_env["healthy"] is False
    # WHEN a check finds the key working (the user fixed it at the provider),
    respx.get("http://groq.test/v1/models").respond(200, json=load("groq/models_list.json"))
    check = await gw.client.post("/admin/credentials/groq/env/check", headers=ADMIN)
    assert check.json()["ok"] is True
    # THEN it is back in rotation.
    groq.mock(return_value=httpx.Response(200, json=answer()))
    assert (await gw.chat()).headers["x-llm-agg-provider"] == "groq"
    assert (await gw.accounts())["groq"]["state"] == "healthy"


@respx.mock
async def test_every_key_refused_is_503_saying_so_not_a_server_error(gw: Gateway) -> None:
    refused = httpx.Response(401, content=raw("groq/error_401_invalid_api_key.json"))
    routes = [respx.post(URL[p]).mock(return_value=refused) for p in PROVIDERS]
    response = await gw.chat()
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "provider_key_refused")
    assert "groq" in error["message"] and "check" in error["message"]
    again = await gw.chat()
    assert again.status_code == 503
    assert [r.call_count for r in routes] == [1, 1, 1, 1]  # nobody asked twice


@respx.mock
async def test_openrouter_402_parks_the_account_as_out_of_credits(gw: Gateway) -> None:
    respx.post(URL["groq"]).mock(return_value=down())
    respx.post(URL["cerebras"]).mock(return_value=down())
    respx.post(URL["openrouter"]).respond(402, content=raw("openrouter/error_402.json"))
    respx.post(URL["together"]).respond(200, json=answer())
    assert (await gw.chat()).headers["x-llm-agg-provider"] == "together"
    assert (await gw.accounts())["openrouter"]["state"] == "no_credits"


@respx.mock
async def test_a_spent_daily_quota_parks_every_model_of_the_account_until_its_reset(
    gw: Gateway,
) -> None:
    now = gw.runtime.clock()
    reset_ms = int((now + 6 * 3600) * 1000)  # hours away: the daily free quota
    spent = httpx.Response(
        429,
        content=raw("openrouter/error_429_free_model_daily.json"),
        headers={
            **headers("openrouter/error_429_response_headers.txt"),
            "x-ratelimit-reset": str(reset_ms),
        },
    )
    openrouter = respx.post(URL["openrouter"]).mock(return_value=spent)
    response = await gw.chat(provider="openrouter")
    # Its other free model was not tried: the quota spans every free model of the account.
    assert openrouter.call_count == 1
    assert response.status_code == 429
    error = response.json()["error"]
    assert "free-models-per-day" in error["message"] and "until" in error["message"]
    assert int(response.headers["retry-after"]) > 5 * 3600
    account = (await gw.accounts())["openrouter"]
    assert account["state"] == "quota_spent"
    assert account["state_until"] == pytest.approx(reset_ms / 1000, abs=1)


async def _trickle() -> AsyncIterator[bytes]:
    """OpenRouter's keep-alive on a long call: a space now and then, never the answer."""
    for _ in range(200):
        yield b" "
        await asyncio.sleep(0.1)


@respx.mock
async def test_a_body_that_trickles_for_ever_times_out_and_fails_over(gw: Gateway) -> None:
    respx.post(URL["groq"]).mock(return_value=httpx.Response(200, content=_trickle()))
    respx.post(URL["cerebras"]).respond(200, json=answer())
    response = await gw.chat()
    assert response.status_code == 200
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert "timeout" in (await gw.accounts())["groq"]["last_error"]


@respx.mock
async def test_a_stream_with_no_first_event_in_time_fails_over_and_is_closed(
    gw: Gateway,
) -> None:
    closed = asyncio.Event()

    async def no_event() -> AsyncIterator[bytes]:
        try:
            for _ in range(200):
                yield b": keep-alive\n\n"  # bytes, but no event: the first-event limit runs
                await asyncio.sleep(0.1)
        finally:
            closed.set()

    stream = {"content-type": "text/event-stream"}
    respx.post(URL["groq"]).mock(
        return_value=httpx.Response(200, content=no_event(), headers=stream)
    )
    respx.post(URL["cerebras"]).respond(
        200,
        content=b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n",
        headers=stream,
    )
    response = await gw.chat(stream=True)
    assert response.status_code == 200
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert '"Hi"' in response.text
    assert response.text.rstrip().endswith("data: [DONE]")
    assert closed.is_set()  # the stalled upstream stream was let go, not left open
    assert "timeout" in (await gw.accounts())["groq"]["last_error"]


async def _stalled_stream() -> AsyncIterator[bytes]:
    yield b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    yield b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
    for _ in range(200):
        yield b": keep-alive\n\n"  # bytes, but no event: the idle limit still runs
        await asyncio.sleep(0.1)


@respx.mock
async def test_a_stream_that_stalls_after_its_first_event_ends_with_an_error_event(
    gw: Gateway,
) -> None:
    stream = {"content-type": "text/event-stream"}
    respx.post(URL["groq"]).mock(
        return_value=httpx.Response(200, content=_stalled_stream(), headers=stream)
    )
    response = await gw.chat(stream=True)
    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line.startswith("data:")]
    assert '"Hel"' in events[0]
    assert '"upstream_stream_stalled"' in events[-1]
    assert "[DONE]" not in response.text
    assert "timeout" in (await gw.accounts())["groq"]["last_error"]


@respx.mock
async def test_a_stream_with_no_first_event_in_time_fails_over(gw: Gateway) -> None:
    async def silent() -> AsyncIterator[bytes]:
        await asyncio.sleep(20)
        yield b""

    stream = {"content-type": "text/event-stream"}
    respx.post(URL["groq"]).mock(return_value=httpx.Response(200, content=silent(), headers=stream))
    respx.post(URL["cerebras"]).respond(
        200,
        content=b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n',
        headers=stream,
    )
    response = await gw.chat(stream=True)
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert response.text.rstrip().endswith("data: [DONE]")


@respx.mock
async def test_a_model_the_provider_no_longer_serves_moves_to_its_next_model(gw: Gateway) -> None:
    gone = httpx.Response(404, content=raw("groq/error_404_model_not_found.json"))
    groq = respx.post(URL["groq"]).mock(side_effect=[gone, httpx.Response(200, json=answer())])
    response = await gw.chat(provider="groq")
    assert response.status_code == 200
    assert models_of(groq) == ["g-kimi", "g-oss"]
    assert (await gw.accounts())["groq"]["state"] == "healthy"  # a model's fault, not groq's


@respx.mock
async def test_the_attempt_budget_is_configurable(tmp_path: Path) -> None:
    environ = {"GROQ_API_KEY": "k", "GROQ_BASE_URL": "http://groq.test/v1"}
    environ["LLM_AGG_MAX_ATTEMPTS"] = "2"
    settings = Settings.from_env(
        {**environ, "LLM_AGG_CONFIG": str(CHAIN), "LLM_AGG_DATA_DIR": str(tmp_path / "d")}
    )
    groq = respx.post(URL["groq"]).mock(return_value=down())
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 502
    assert response.headers["x-llm-agg-attempts"] == "2"
    assert groq.call_count == 2


@respx.mock
async def test_a_refused_key_is_checked_again_in_the_background_and_comes_back(
    tmp_path: Path,
) -> None:
    environ = {
        "GROQ_API_KEY": "gsk-0001",
        "GROQ_BASE_URL": "http://groq.test/v1",
        "CEREBRAS_API_KEY": "csk-0001",
        "CEREBRAS_BASE_URL": "http://cerebras.test/v1",
    }
    settings = Settings(
        config_path=CHAIN, data_dir=tmp_path / "data", environ=environ, recheck_interval=0.2
    )
    refused = httpx.Response(401, content=raw("groq/error_401_invalid_api_key.json"))
    groq = respx.post(URL["groq"]).mock(return_value=refused)
    respx.post(URL["cerebras"]).respond(200, json=answer())
    listing = respx.get("http://groq.test/v1/models").respond(
        200, json=load("groq/models_list.json")
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        first = await client.post("/v1/chat/completions", json=HELLO)
        assert first.headers["x-llm-agg-provider"] == "cerebras"
        groq.mock(return_value=httpx.Response(200, json=answer()))
        await asyncio.sleep(0.3)  # the re-check interval passes
        await client.post("/v1/chat/completions", json=HELLO)  # starts the re-check
        runtime = app.runtime
        for _ in range(50):
            if not runtime.quota.circuits.all_parked():
                break
            await asyncio.sleep(0.05)
        again = await client.post("/v1/chat/completions", json=HELLO)
    assert listing.call_count == 1
    assert again.headers["x-llm-agg-provider"] == "groq"


@respx.mock
async def test_another_process_shows_what_this_one_learned(tmp_path: Path) -> None:
    # GIVEN two gateways on one store (two workers, or the chat and admin Lambdas),
    environ = {
        "GROQ_API_KEY": "gsk-0001",
        "GROQ_BASE_URL": "http://groq.test/v1",
        "CEREBRAS_API_KEY": "csk-0001",
        "CEREBRAS_BASE_URL": "http://cerebras.test/v1",
    }

    def gateway() -> httpx.AsyncClient:
        settings = Settings(
            config_path=CHAIN, data_dir=tmp_path / "data", environ=environ, admin_key=ADMIN_KEY
        )
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://gw"
        )

    refused = httpx.Response(401, content=raw("groq/error_401_invalid_api_key.json"))
    respx.post(URL["groq"]).mock(return_value=refused)
    respx.post(URL["cerebras"]).mock(return_value=down())
    async with gateway() as worker, gateway() as admin:
        # WHEN one serves traffic that finds groq's key refused and cerebras failing,
        for _ in range(3):
            await worker.post("/v1/chat/completions", json=HELLO)
        await asyncio.sleep(0.1)  # the state is written in the background
        # THEN the other's status says so.
        listing = (await admin.get("/admin/providers", headers=ADMIN)).json()["data"]
    states = {p["provider"]: p["accounts"][0]["state"] for p in listing if p["accounts"]}
    assert states == {"groq": "key_refused", "cerebras": "failing"}


@respx.mock
async def test_a_provider_down_costs_one_attempt_per_request_once_its_circuit_is_open(
    gw: Gateway,
) -> None:
    groq = respx.post(URL["groq"]).mock(return_value=down())
    first = await gw.chat(provider="groq")
    # Its five models, until three failures in a row opened the circuit.
    assert (first.status_code, first.headers["x-llm-agg-attempts"]) == (502, "3")
    second = await gw.chat(provider="groq")
    assert (second.status_code, second.headers["x-llm-agg-attempts"]) == (502, "1")
    assert groq.call_count == 4
