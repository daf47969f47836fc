"""One suite, every provider: the client sees the same OpenAI answers whoever served them.

The chat app runs over ASGI; each provider is played by respx from its recorded answers
(tests/fixtures), at the base URL its ``<PROVIDER>_BASE_URL`` names.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llm_agg.apps.chat import create_chat_app
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.functional.conformance_kits import (
    EARLY_ERROR,
    LENGTH,
    MIDSTREAM_ERROR,
    MODEL,
    NATIVE,
    PARALLEL,
    PROVIDERS,
    STREAM_TEXT,
    STREAM_TOOL,
    TEXT,
    TOOL_CALL,
    Expected,
    ToolCall,
    backup_of,
    body_of,
    chat_url,
    error_cases,
    error_headers,
    fixture_message,
    provider_env,
)
from tests.support.fixtures import load, raw
from tests.support.openai_stream import Collected, collect

pytestmark = pytest.mark.anyio

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


class Pieces(httpx.AsyncByteStream):
    """A response body that arrives in small reads, splitting events anywhere."""

    def __init__(self, data: bytes, size: int = 13) -> None:
        self.data, self.size = data, size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.size):
            yield self.data[start : start + self.size]


def answer(source: str | Callable[[], bytes]) -> httpx.Response:
    data = body_of(source)
    if isinstance(source, str) and source.endswith(".json"):
        return httpx.Response(200, content=data, headers={"content-type": "application/json"})
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Pieces(data))


@dataclass
class Gateway:
    client: httpx.AsyncClient
    runtime: Runtime
    upstream: respx.MockRouter

    async def ask(self, **body: Any) -> httpx.Response:
        return await self.client.post("/v1/chat/completions", json={"model": MODEL, **body})

    def route(self, provider: str, *answers: httpx.Response) -> respx.Route:
        return self.upstream.post(chat_url(provider)).mock(side_effect=list(answers))


@asynccontextmanager
async def gateway(tmp_path: Path, *providers: str) -> AsyncIterator[Gateway]:
    """The chat app with ``providers`` configured, the first preferred."""
    lines = ["providers:"]
    for rank, name in enumerate(providers):
        tier = 5 - rank * 4
        lines.append(
            f"  {name}: {{models: [{{id: {MODEL}, quality: {tier}, speed: {tier}, "
            "capabilities: [tools, json, vision], free: true}]}"
        )
    config = tmp_path / "providers.yaml"
    config.write_text("\n".join(lines) + "\n")
    environ: dict[str, str] = {}
    for name in providers:
        environ |= provider_env(name)
    settings = Settings(config_path=config, environ=environ, data_dir=tmp_path / "data")
    runtime = Runtime(settings)
    app = create_chat_app(runtime)
    transport = httpx.ASGITransport(app=app)
    try:
        with respx.mock(assert_all_called=False) as upstream:
            # A local server is configured once it answers its model list.
            for spec in runtime.specs.values():
                if spec.probe and spec.name in providers:
                    upstream.get(spec.models_url).respond(
                        200, content=raw("ollama/models_list.json")
                    )
            await runtime.probe()
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                yield Gateway(client, runtime, upstream)
    finally:
        await runtime.aclose()


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


def calls_of(message: dict[str, Any]) -> list[ToolCall]:
    return [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls") or ()
    ]


def streamed_calls(out: Collected) -> list[ToolCall]:
    return [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in out.tool_calls
    ]


def usage_of(data: dict[str, Any] | None) -> tuple[int, int] | None:
    if data is None:
        return None
    assert data["total_tokens"] == data["prompt_tokens"] + data["completion_tokens"]
    return data["prompt_tokens"], data["completion_tokens"]


def conversation(provider: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each turn the provider was sent, read in its own format."""
    turns = []
    if provider == "anthropic":
        system = body.get("system")
        if system:
            text = system if isinstance(system, str) else "".join(b["text"] for b in system)
            turns.append(("system", text))
    for message in body["messages"]:
        content = message["content"]
        if not isinstance(content, str):
            content = "".join(block.get("text", "") for block in content)
        turns.append((message["role"], content))
    return turns


def echoed(provider: str, body: dict[str, Any]) -> tuple[list[ToolCall], list[tuple[str, str]]]:
    """The tool calls and the tool results the provider was sent, read in its own format."""
    calls: list[ToolCall] = []
    results: list[tuple[str, str]] = []
    for message in body["messages"]:
        if provider == "anthropic":
            for block in message["content"] if isinstance(message["content"], list) else ():
                if block["type"] == "tool_use":
                    calls.append((block["id"], block["name"], block["input"]))
                elif block["type"] == "tool_result":
                    results.append((block["tool_use_id"], block["content"]))
        elif message["role"] == "tool":
            results.append((message["tool_call_id"], message["content"]))
        else:
            calls += calls_of(message)
    return calls, results


def check_answer(response: httpx.Response, provider: str, expected: Expected, finish: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-llm-agg-provider"] == provider
    data = response.json()
    assert data["object"] == "chat.completion"
    if provider in NATIVE:
        assert data["id"].startswith("chatcmpl-")
        assert isinstance(data["created"], int)
    (choice,) = data["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == finish
    message = choice["message"]
    assert message["role"] == "assistant"
    assert (message.get("content") or None) == expected.content
    assert calls_of(message) == expected.tool_calls
    assert usage_of(data["usage"]) == expected.usage


def check_stream(response: httpx.Response, provider: str, expected: Expected, finish: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-llm-agg-provider"] == provider
    out = collect(response.content)
    assert out.done and out.error is None
    assert out.role == "assistant"
    assert (out.content or None) == expected.content
    assert streamed_calls(out) == expected.tool_calls
    assert out.finish_reason == finish
    assert usage_of(out.usage) == expected.usage


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_text(tmp_path: Path, provider: str):
    fixture, expected = TEXT[provider]
    async with gateway(tmp_path, provider) as gw:
        route = gw.route(provider, answer(fixture))
        response = await gw.ask(messages=[{"role": "user", "content": "Hello"}])
    check_answer(response, provider, expected, "stop")
    assert conversation(provider, sent(route)) == [("user", "Hello")]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_multi_turn(tmp_path: Path, provider: str):
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke"},
    ]
    fixture, expected = TEXT[provider]
    async with gateway(tmp_path, provider) as gw:
        route = gw.route(provider, answer(fixture))
        response = await gw.ask(messages=turns)
    check_answer(response, provider, expected, "stop")
    assert conversation(provider, sent(route)) == [(t["role"], t["content"]) for t in turns]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_system_message(tmp_path: Path, provider: str):
    fixture, expected = TEXT[provider]
    async with gateway(tmp_path, provider) as gw:
        route = gw.route(provider, answer(fixture))
        response = await gw.ask(
            messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
        )
    check_answer(response, provider, expected, "stop")
    assert conversation(provider, sent(route)) == [("system", "Be terse."), ("user", "Hi")]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tools_round_trip(tmp_path: Path, provider: str):
    call_fixture, call_expected = TOOL_CALL[provider]
    text_fixture, text_expected = TEXT[provider]
    question = {"role": "user", "content": "What's the weather in Paris?"}
    async with gateway(tmp_path, provider) as gw:
        route = gw.route(provider, answer(call_fixture), answer(text_fixture))
        first = await gw.ask(messages=[question], tools=[WEATHER_TOOL])
        check_answer(first, provider, call_expected, "tool_calls")
        message = first.json()["choices"][0]["message"]
        results = [
            {"role": "tool", "tool_call_id": call["id"], "content": f'{{"temp_c": {18 + i}}}'}
            for i, call in enumerate(message["tool_calls"])
        ]
        second = await gw.ask(messages=[question, message, *results], tools=[WEATHER_TOOL])
    check_answer(second, provider, text_expected, "stop")
    calls, returned = echoed(provider, sent(route))
    assert calls == call_expected.tool_calls
    assert returned == [(r["tool_call_id"], r["content"]) for r in results]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_parallel_tool_calls(tmp_path: Path, provider: str):
    fixture, expected = PARALLEL[provider]
    async with gateway(tmp_path, provider) as gw:
        gw.route(provider, answer(fixture))
        response = await gw.ask(
            messages=[{"role": "user", "content": "Weather in SF and NYC?"}], tools=[WEATHER_TOOL]
        )
    check_answer(response, provider, expected, "tool_calls")
    assert len(expected.tool_calls) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_text(tmp_path: Path, provider: str):
    fixture, expected = STREAM_TEXT[provider]
    async with gateway(tmp_path, provider) as gw:
        route = gw.route(provider, answer(fixture))
        response = await gw.ask(
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    check_stream(response, provider, expected, "stop")
    assert sent(route)["stream"] is True


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_without_include_usage_has_no_usage_chunk(tmp_path: Path, provider: str):
    fixture, expected = STREAM_TEXT[provider]
    async with gateway(tmp_path, provider) as gw:
        gw.route(provider, answer(fixture))
        response = await gw.ask(messages=[{"role": "user", "content": "Hello"}], stream=True)
    out = collect(response.content)
    assert out.done and (out.content or None) == expected.content
    assert out.usage is None and not any("usage" in chunk for chunk in out.chunks)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_tool_call(tmp_path: Path, provider: str):
    fixture, expected = STREAM_TOOL[provider]
    async with gateway(tmp_path, provider) as gw:
        gw.route(provider, answer(fixture))
        response = await gw.ask(
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL],
            stream=True,
            stream_options={"include_usage": True},
        )
    check_stream(response, provider, expected, "tool_calls")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_max_tokens_stop(tmp_path: Path, provider: str):
    fixture = LENGTH[provider]
    stream = fixture.endswith(".sse")
    async with gateway(tmp_path, provider) as gw:
        route = gw.route(provider, answer(fixture))
        response = await gw.ask(
            messages=[{"role": "user", "content": "Write a long essay"}],
            max_tokens=16,
            stream=stream,
        )
    assert response.status_code == 200
    if stream:
        out = collect(response.content)
        assert out.done and out.finish_reason == "length"
    else:
        assert response.json()["choices"][0]["finish_reason"] == "length"
    assert sent(route)["max_tokens"] == 16


# Groq's 413 means "over this account's tokens per minute" (it cools the account); GitHub's,
# "over this provider's tokens per request" (another provider may take it).
FAILS_OVER_413 = {"groq", "github"}
COOLS_ON_413 = {"groq"}


# 400s naming the model's own limit: another model may take the same request.
MODEL_LEVEL = {"groq/error_400_tool_use_failed.json", "cerebras/error_400_context_length.json"}


def returned_at_once(provider: str, status: int, fixture: str = "") -> bool:
    """Faults of the request itself; everything else is the provider's and moves on.
    OpenRouter's 403 is its moderation refusing the request (its refused key is a 401)."""
    if fixture in MODEL_LEVEL:
        return False
    if provider == "openrouter" and status == 403:
        return True
    return status in (400, 413, 422) and not (status == 413 and provider in FAILS_OVER_413)


@pytest.mark.parametrize(("provider", "status", "fixture"), error_cases())
async def test_error_status(tmp_path: Path, provider: str, status: int, fixture: str):
    backup = backup_of(provider)
    failure = httpx.Response(status, content=raw(fixture), headers=error_headers(provider, status))
    async with gateway(tmp_path, provider, backup) as gw:
        gw.route(provider, failure)
        gw.route(backup, answer(TEXT[backup][0]))
        response = await gw.ask(messages=[{"role": "user", "content": "Hello"}])
        holder = gw.runtime.specs[provider].quota_holder("env")
        cool = gw.runtime.quota.cooldowns.get(provider, holder, MODEL)
        cooling = cool.until if cool is not None else None
        now = gw.runtime.clock()
    if returned_at_once(provider, status, fixture):
        assert response.status_code == status
        assert response.headers["x-llm-agg-attempts"] == "1"
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["message"] == fixture_message(load(fixture))
        assert error["type"] in ("invalid_request_error", None) or provider == "openrouter"
    else:
        check_answer(response, backup, TEXT[backup][1], "stop")
        assert response.headers["x-llm-agg-attempts"] == "2"
    if status == 429 or (status == 413 and provider in COOLS_ON_413):
        assert cooling is not None
        if "retry-after" in error_headers(provider, status):
            wait = float(error_headers(provider, status)["retry-after"])
            assert cooling - now == pytest.approx(wait, abs=2)
    else:
        assert cooling is None


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_midstream_error_ends_with_an_error_event_never_done(tmp_path: Path, provider: str):
    async with gateway(tmp_path, provider) as gw:
        gw.route(provider, answer(MIDSTREAM_ERROR[provider]))
        response = await gw.ask(messages=[{"role": "user", "content": "Hello"}], stream=True)
    assert response.status_code == 200
    out = collect(response.content)
    assert out.error is not None and not out.done
    assert set(out.error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("provider", sorted(EARLY_ERROR))
async def test_stream_failing_before_any_content_fails_over(tmp_path: Path, provider: str):
    backup = backup_of(provider)
    async with gateway(tmp_path, provider, backup) as gw:
        gw.route(provider, answer(EARLY_ERROR[provider]))
        gw.route(backup, answer(STREAM_TEXT[backup][0]))
        response = await gw.ask(
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    check_stream(response, backup, STREAM_TEXT[backup][1], "stop")
    assert response.headers["x-llm-agg-attempts"] == "2"


@pytest.mark.parametrize("provider", NATIVE)
async def test_native_requests_carry_the_providers_auth(tmp_path: Path, provider: str):
    async with gateway(tmp_path, provider) as gw:
        route = gw.route(provider, answer(TEXT[provider][0]))
        await gw.ask(messages=[{"role": "user", "content": "Hello"}])
    headers = route.calls[0].request.headers
    if provider == "anthropic":
        assert headers["x-api-key"] == "anthropic-conformance-key"
        assert headers["anthropic-version"] == "2023-06-01"
    else:
        assert headers["authorization"] == "Bearer cohere-conformance-key"
