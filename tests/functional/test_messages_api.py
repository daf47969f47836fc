"""``/v1/messages`` over ASGI with respx upstreams, the anthropic SDK as the client: the same
routing, failover, headers and auth as chat, answers and errors in Anthropic's shapes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient

from llm_agg.limits.keys import tokens_today
from llm_agg.settings import Settings
from tests.functional.gateway import ADMIN, CEREBRAS, GROQ, fixture, make_settings, serve
from tests.support.fixtures import raw
from tests.support.messages_stream import read
from tests.support.runtimes import runtime_of

ANTHROPIC = "https://anthropic.test"
HI = [{"role": "user", "content": "hi"}]
ENV = {
    "GROQ_API_KEY": "gsk_messages_0001",
    "CEREBRAS_API_KEY": "csk_messages_0002",
    "ANTHROPIC_API_KEY": "sk-ant-messages-0003",
    "ANTHROPIC_BASE_URL": ANTHROPIC,
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, **ENV)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with serve(settings) as client:
        yield client


@pytest.fixture
def sdk(client: TestClient) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=str(client.base_url), api_key="unused", http_client=client, max_retries=0
    )


def sse(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


@respx.mock
def test_a_message_is_served_by_the_router_with_the_gateway_headers(
    client: TestClient, sdk: anthropic.Anthropic
) -> None:
    route = respx.post(f"{GROQ}/chat/completions").respond(
        200, json=fixture("groq/response_text.json")
    )
    raw_answer = sdk.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=6000,
        messages=HI,
        # Older clients (and Claude Code) still send sampling fields this SDK no longer types.
        extra_body={"temperature": 0.5, "top_k": 5},
    )
    answer = raw_answer.parse()
    assert raw_answer.headers["x-llm-agg-provider"] == "groq"
    assert raw_answer.headers["x-llm-agg-attempts"] == "1"
    assert answer.type == "message" and answer.content[0].type == "text"
    assert answer.stop_reason == "end_turn" and answer.usage.output_tokens > 0
    sent = orjson.loads(route.calls[0].request.content)
    # Held to the catalog's output limit of the model; top_k left out (Groq refuses it).
    assert sent["model"] == "fake-model" and sent["max_tokens"] == 4096
    assert sent["temperature"] == 0.5 and "top_k" not in sent
    assert "model_quality" not in sent


@respx.mock
def test_a_stream_fails_over_before_its_first_byte_and_reads_back_in_the_sdk(
    client: TestClient, sdk: anthropic.Anthropic
) -> None:
    respx.post(f"{GROQ}/chat/completions").respond(500, json={"error": {"message": "down"}})
    respx.post(f"{CEREBRAS}/chat/completions").mock(
        return_value=sse(raw("cerebras/stream_tool_call.sse"))
    )
    tools: Any = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    with sdk.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=HI, tools=tools
    ) as stream:
        final = stream.get_final_message()
        assert stream.response.headers["x-llm-agg-provider"] == "cerebras"
        assert stream.response.headers["x-llm-agg-attempts"] == "2"
    (block,) = final.content
    assert block.type == "tool_use" and block.input == {"location": "Paris"}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == 25


@respx.mock
def test_a_stream_that_breaks_after_its_first_byte_ends_with_an_error_event(
    client: TestClient,
) -> None:
    cut = b"\n\n".join(raw("openai/stream_text_with_usage.sse").split(b"\n\n")[:3]) + b"\n\n"
    respx.post(f"{GROQ}/chat/completions").mock(return_value=sse(cut))
    response = client.post(
        "/v1/messages",
        json={"model": "fake-model", "max_tokens": 50, "stream": True, "messages": HI},
    )
    got = read(response.content)
    assert response.status_code == 200
    assert got.error is not None and got.error["type"] == "api_error"
    assert "message_stop" not in got.names


@respx.mock
def test_errors_are_anthropic_errors_the_sdk_raises_as_its_own(
    client: TestClient, sdk: anthropic.Anthropic
) -> None:
    limited = {"retry-after": "7"}
    respx.post(f"{GROQ}/chat/completions").respond(
        429, json=fixture("groq/error_429_rate_limit_tokens.json"), headers=limited
    )
    respx.post(f"{CEREBRAS}/chat/completions").respond(
        429, json={"message": "slow", "type": "too_many_requests_error"}, headers=limited
    )
    with pytest.raises(anthropic.RateLimitError) as limited_error:
        sdk.messages.create(model="fake-model", max_tokens=10, messages=HI)
    assert limited_error.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert limited_error.value.response.headers["retry-after"]
    with pytest.raises(anthropic.BadRequestError) as bad:
        sdk.messages.create(model="fake-model", max_tokens=10, messages=[])
    assert bad.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": bad.value.body["error"]["message"]},  # type: ignore[index]
    }
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.create(model="no-such-model", max_tokens=10, messages=HI)
    web: Any = [{"type": "web_search_20250305", "name": "web_search"}]
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk.messages.create(model="fake-model", max_tokens=10, messages=HI, tools=web)
    assert "web_search_20250305" in refused.value.message


@respx.mock
def test_anthropic_targets_get_the_clients_body_and_answer_in_their_own_words(
    client: TestClient, sdk: anthropic.Anthropic
) -> None:
    route = respx.post(f"{ANTHROPIC}/v1/messages").respond(
        200, content=raw("anthropic/response_tool_use.json")
    )
    web: Any = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]
    answer = sdk.messages.with_raw_response.create(
        model="anthropic/claude-haiku-4-5",
        max_tokens=10,
        messages=HI,
        tools=web,
        extra_headers={"anthropic-beta": "web-search-2025-03-05"},
    )
    assert answer.headers["x-llm-agg-provider"] == "anthropic"
    assert answer.http_response.content == raw("anthropic/response_tool_use.json")
    request = route.calls[0].request
    assert request.headers["x-api-key"] == ENV["ANTHROPIC_API_KEY"]
    assert request.headers["anthropic-beta"] == "web-search-2025-03-05"
    sent = orjson.loads(request.content)
    assert sent == {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": HI, "tools": web}


@respx.mock
def test_an_anthropic_stream_is_relayed_as_anthropic_sent_it_and_its_tokens_counted(
    client: TestClient, settings: Settings
) -> None:
    respx.post(f"{ANTHROPIC}/v1/messages").mock(
        return_value=sse(raw("anthropic/stream_tool_use.sse"))
    )
    created = client.post("/admin/keys", json={"tokens_per_day": 100000}, headers=ADMIN).json()
    sdk = anthropic.Anthropic(
        base_url=str(client.base_url), api_key=created["key"], http_client=client, max_retries=0
    )
    with sdk.messages.stream(
        model="anthropic/claude-haiku-4-5", max_tokens=10, messages=HI
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    counters = runtime_of(client).stored.stores.counters
    deadline = time.monotonic() + 5
    while tokens_today(counters, created["id"], time.time()) != 442 and time.monotonic() < deadline:
        time.sleep(0.02)  # charged, and the reservation given back, after the answer
    assert tokens_today(counters, created["id"], time.time()) == 377 + 65


def test_count_tokens_answers_the_gateways_estimate(sdk: anthropic.Anthropic) -> None:
    short = sdk.messages.count_tokens(model="claude-sonnet-4-5", messages=HI)
    long = sdk.messages.count_tokens(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "word " * 400}],
        system="You are helpful.",
    )
    assert 0 < short.input_tokens < long.input_tokens


def test_a_key_in_x_api_key_or_bearer_is_accepted_and_a_wrong_one_refused(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, **ENV, LLM_AGG_REQUIRE_AUTH="1")
    with serve(settings) as client, respx.mock:
        respx.post(f"{GROQ}/chat/completions").respond(200, json=fixture("groq/response_text.json"))
        key = client.post("/admin/keys", json={"name": "cc"}, headers=ADMIN).json()["key"]
        body = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": HI}
        version = {"anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219"}
        by_header = client.post("/v1/messages", json=body, headers={"x-api-key": key, **version})
        assert by_header.status_code == 200
        bearer = client.post("/v1/messages", json=body, headers={"authorization": f"Bearer {key}"})
        assert bearer.status_code == 200
        # Every /v1 route takes it so (DESIGN: Bearer or x-api-key).
        chat = {"model": "fake-model", "messages": HI}
        assert client.post("/v1/chat/completions", json=chat, headers={"x-api-key": key}).is_success
        missing = client.post("/v1/messages", json=body)
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "authentication_error"
        wrong = anthropic.Anthropic(
            base_url=str(client.base_url),
            api_key="sk-llmagg-wrong",
            http_client=client,
            max_retries=0,
        )
        with pytest.raises(anthropic.AuthenticationError):
            wrong.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HI)


def test_the_catalogs_aliases_choose_the_model(tmp_path: Path) -> None:
    catalog = tmp_path / "providers.yaml"
    catalog.write_text(
        (Path(__file__).resolve().parents[1] / "e2e/providers.yaml").read_text()
        + "aliases:\n  claude-sonnet-*: cerebras/fake-model\n"
    )
    settings = make_settings(tmp_path, **ENV, LLM_AGG_CONFIG=str(catalog))
    with serve(settings) as client, respx.mock:
        respx.post(f"{CEREBRAS}/chat/completions").respond(
            200, json=fixture("cerebras/response_text.json")
        )
        body = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 10, "messages": HI}
        answer = client.post("/v1/messages", json=body)
        assert answer.headers["x-llm-agg-provider"] == "cerebras", answer.text
