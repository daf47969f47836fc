"""What the gateway accepts it can also forward: strict types (the raw body is what is sent,
so "stream": "yes" is not true) and JSON depth bounded alike on read and write."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

from llm_agg.api.validation import MAX_DEPTH
from tests.functional.conftest import CEREBRAS, GROQ
from tests.support.fixtures import load

pytestmark = pytest.mark.anyio
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def upstream() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        for url in (GROQ, CEREBRAS):
            router.post(url).respond(200, json=load("groq/response_text.json"))
        yield router


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "yes"),
        ("stream", 1),
        ("max_tokens", "5"),
        ("max_tokens", 5.0),
        ("temperature", "0.5"),
        ("n", True),
        ("logprobs", "false"),
        ("stream_options", {"include_usage": "true"}),
        ("messages", [{"role": "user", "content": 5}]),
        ("messages", [{"role": "user", "content": "x", "name": 1}]),
        ("stop", 7),
        ("user", 42),
    ],
)
async def test_a_field_of_the_wrong_type_is_a_400_never_coerced_and_forwarded(
    client: httpx.AsyncClient, upstream: respx.MockRouter, field: str, value: Any
) -> None:
    body = {"model": "fake-model", "messages": HI, field: value}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].split(".")[0] == field
    assert upstream.calls.call_count == 0


async def test_right_types_still_pass_including_an_integer_temperature(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    body = {"model": "fake-model", "messages": HI, "temperature": 1, "max_tokens": 5}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert orjson.loads(upstream.calls.last.request.content)["temperature"] == 1


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("levels", [MAX_DEPTH, 200, 254, 255, 600, 1023, 1024, 1025])
async def test_json_nested_past_the_bound_is_a_400_wherever_it_sits(
    client: httpx.AsyncClient, upstream: respx.MockRouter, levels: int
) -> None:
    # The body's own object is one level: the field holds the rest.
    for field in (b"metadata", b"tools"):
        raw = b'{"model":"fake-model","messages":[{"role":"user","content":"hi"}],"'
        raw += field + b'":' + nested(levels) + b"}"
        response = await client.post(
            "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.calls.call_count == 0


async def test_json_within_the_bound_is_forwarded(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    raw = b'{"model":"fake-model","messages":[{"role":"user","content":"hi"}],"metadata":'
    raw += nested(MAX_DEPTH - 1) + b"}"
    response = await client.post(
        "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert nested(MAX_DEPTH - 1) in upstream.calls.last.request.content


@pytest.mark.parametrize(
    "body",
    [
        {"instruction": "x", "confirm_writes": "yes"},
        {"instruction": "x", "model": 7},
        {"instruction": 1},
    ],
)
async def test_the_agent_takes_strict_types_too(
    client: httpx.AsyncClient, upstream: respx.MockRouter, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/agents/code/invoke", json=body)
    assert response.status_code == 400, response.text
    assert upstream.calls.call_count == 0
