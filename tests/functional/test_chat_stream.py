"""Streams over ASGI: what the client receives for each way an upstream stream can go."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest
import respx

from tests.functional.conftest import CEREBRAS, GROQ

pytestmark = pytest.mark.anyio

STREAM = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
Read = Callable[[str], bytes]


def sse(status: int, body: bytes) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "text/event-stream"})


def events(text: str) -> list[object]:
    out: list[object] = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            out.append(data if data == "[DONE]" else orjson.loads(data))
    return out


@respx.mock
async def test_a_stream_is_relayed_and_asks_upstream_for_usage(
    client: httpx.AsyncClient, fixture_bytes: Read
) -> None:
    route = respx.post(GROQ).mock(return_value=sse(200, fixture_bytes("groq/stream_text.sse")))
    response = await client.post("/v1/chat/completions", json=STREAM)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-llm-agg-provider"] == "groq"
    sent = orjson.loads(route.calls[0].request.content)
    assert sent["stream_options"] == {"include_usage": True}
    received = events(response.text)
    assert received[-1] == "[DONE]"
    # The client did not ask for usage: no usage chunk, no usage on the finish chunk.
    assert all("usage" not in e for e in received if isinstance(e, dict))


@respx.mock
async def test_a_stream_fails_over_when_the_first_provider_errors_before_any_byte(
    client: httpx.AsyncClient, fixture_bytes: Read
) -> None:
    respx.post(GROQ).mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    respx.post(CEREBRAS).mock(return_value=sse(200, fixture_bytes("cerebras/stream_text.sse")))
    response = await client.post("/v1/chat/completions", json=STREAM)
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert response.headers["x-llm-agg-attempts"] == "2"
    assert events(response.text)[-1] == "[DONE]"


@respx.mock
async def test_an_error_as_the_first_event_also_fails_over(
    client: httpx.AsyncClient, fixture_bytes: Read
) -> None:
    first_event_error = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    respx.post(GROQ).mock(return_value=sse(200, first_event_error))
    respx.post(CEREBRAS).mock(return_value=sse(200, fixture_bytes("cerebras/stream_text.sse")))
    response = await client.post("/v1/chat/completions", json=STREAM)
    assert response.headers["x-llm-agg-provider"] == "cerebras"


@respx.mock
async def test_an_empty_stream_fails_over(client: httpx.AsyncClient, fixture_bytes: Read) -> None:
    respx.post(GROQ).mock(return_value=sse(200, b""))
    respx.post(CEREBRAS).mock(return_value=sse(200, fixture_bytes("cerebras/stream_text.sse")))
    response = await client.post("/v1/chat/completions", json=STREAM)
    assert response.headers["x-llm-agg-provider"] == "cerebras"


@respx.mock
async def test_a_stream_cut_short_ends_with_an_error_event(
    client: httpx.AsyncClient, fixture_bytes: Read
) -> None:
    raw = fixture_bytes("groq/stream_text.sse")
    respx.post(GROQ).mock(return_value=sse(200, raw[: len(raw) // 3]))
    response = await client.post("/v1/chat/completions", json=STREAM)
    received = events(response.text)
    assert "[DONE]" not in received
    last = received[-1]
    assert isinstance(last, dict) and last["error"]["code"] == "upstream_stream_error"


@respx.mock
async def test_usage_is_given_when_the_client_asked(
    client: httpx.AsyncClient, fixture_bytes: Read
) -> None:
    respx.post(GROQ).mock(return_value=sse(200, fixture_bytes("groq/stream_text.sse")))
    response = await client.post(
        "/v1/chat/completions", json={**STREAM, "stream_options": {"include_usage": True}}
    )
    received = events(response.text)
    usage = received[-2]
    assert isinstance(usage, dict) and usage["choices"] == []
    assert usage["usage"]["total_tokens"] == 707
