"""The openai SDK's ``client.responses`` against a real ``llm-agg serve`` and a fake upstream,
both on loopback; and the WebSocket handshake Codex tries first, made on a real socket."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
from pathlib import Path
from typing import Any, get_args

import openai
import pytest
from openai.types.responses import ResponseStreamEvent

from tests.e2e.harness import FakeUpstream, Process

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
MODEL = "fake-model"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}
PATCH = {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch."}


def sdk(gateway: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused-on-loopback", max_retries=0)


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-e2e",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def call_chunks(name: str, pieces: list[str]) -> list[dict[str, Any]]:
    """A tool call whose arguments arrive in ``pieces``, as a provider streams it."""
    opening = {
        "index": 0,
        "id": "call_e2e",
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    chunks = [chunk({"role": "assistant", "content": None, "tool_calls": [opening]})]
    chunks += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces]
    return [*chunks, chunk({}, "tool_calls")]


def test_create_returns_the_answer_with_the_gateway_headers(
    gateway: Process, fake: FakeUpstream
) -> None:
    raw = sdk(gateway).responses.with_raw_response.create(
        model=MODEL, input="hi", instructions="Brief."
    )
    response = raw.parse()
    assert response.output_text == "Hello from groq: hi"
    assert response.status == "completed" and response.usage is not None
    assert response.usage.total_tokens == 18
    assert raw.headers["x-llm-agg-provider"] == "groq" and raw.headers["x-llm-agg-attempts"] == "1"
    assert fake.received()[-1]["body"]["messages"][0] == {"role": "system", "content": "Brief."}


def test_stream_gives_text_deltas_and_the_final_response(gateway: Process) -> None:
    with sdk(gateway).responses.stream(model=MODEL, input="one two") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Hello from groq: one two "
    assert final.status == "completed"


@pytest.mark.parametrize(
    "pieces",
    [
        ['{"', "ci", 'ty"', ": ", '"Par', 'is"', "}"],  # in many pieces
        ['{"city": "Paris"}'],  # whole in one chunk
    ],
)
def test_a_streamed_function_call_then_its_output_round_trips(
    gateway: Process, fake: FakeUpstream, pieces: list[str]
) -> None:
    client = sdk(gateway)
    fake.queue("groq", {"chunks": call_chunks("get_weather", pieces)})
    with client.responses.stream(model=MODEL, input="weather?", tools=[WEATHER]) as stream:  # type: ignore[list-item]
        argument_deltas = [
            e.delta for e in stream if e.type == "response.function_call_arguments.delta"
        ]
        final = stream.get_final_response()
    assert argument_deltas == pieces
    call = final.output[0]
    assert call.type == "function_call" and call.arguments == '{"city": "Paris"}'

    result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    answer = client.responses.create(
        model=MODEL, input=[*final.output, result], tools=[WEATHER], store=False
    )  # type: ignore[list-item]
    messages = fake.received()[-1]["body"]["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert messages[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}
    assert answer.output_text == "Hello from groq: sunny"


def test_a_custom_tool_call_comes_back_as_custom_and_its_output_goes_up(
    gateway: Process, fake: FakeUpstream
) -> None:
    client = sdk(gateway)
    fake.queue("groq", {"chunks": call_chunks("apply_patch", ['{"input": "*** Begin', ' Patch"}'])})
    with client.responses.stream(model=MODEL, input="patch it", tools=[PATCH]) as stream:  # type: ignore[list-item]
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert "response.custom_tool_call_input.done" in kinds
    item = final.output[0]
    assert (item.type, item.name, item.input) == (
        "custom_tool_call",
        "apply_patch",
        "*** Begin Patch",
    )
    sent_tool = fake.received()[-1]["body"]["tools"][0]["function"]
    assert sent_tool["name"] == "apply_patch" and sent_tool["parameters"]["required"] == ["input"]

    output = {"type": "custom_tool_call_output", "call_id": item.call_id, "output": "Done!"}
    follow = client.responses.create(model=MODEL, input=[*final.output, output], tools=[PATCH])  # type: ignore[list-item]
    assert follow.output_text == "Hello from groq: Done!"


def test_previous_response_id_continues_and_the_response_can_be_read_and_deleted(
    gateway: Process, fake: FakeUpstream
) -> None:
    client = sdk(gateway)
    first = client.responses.create(model=MODEL, input="first")
    second = client.responses.create(model=MODEL, input="second", previous_response_id=first.id)
    contents = [m["content"] for m in fake.received()[-1]["body"]["messages"]]
    assert contents == ["first", "Hello from groq: first", "second"]
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(first.id).output_text == first.output_text
    listed = list(client.responses.input_items.list(second.id, order="asc", limit=2))
    texts = [part.text for item in listed if item.type == "message" for part in item.content]
    assert texts == ["first", "Hello from groq: first", "second"]  # over two pages
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_errors_come_back_as_the_sdk_expects_them(gateway: Process, fake: FakeUpstream) -> None:
    client = sdk(gateway)
    with pytest.raises(openai.BadRequestError, match="hosted tool"):
        client.responses.create(model=MODEL, input="hi", tools=[{"type": "web_search"}])
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model=MODEL, input="hi", previous_response_id="resp_missing")
    assert unknown.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing")
    rejected = {
        "status": 400,
        "body": {"error": {"message": "bad request", "type": "invalid_request_error"}},
    }
    fake.queue("groq", rejected)
    with pytest.raises(openai.BadRequestError, match="bad request"):
        client.responses.create(model=MODEL, input="hi", stream=True)


# --- conformance: every event type we emit, produced and parsed back by the SDK --------------

TEXT = [
    chunk({"role": "assistant", "content": "Hi"}),
    chunk({"content": " there"}),
    chunk({}, "stop"),
]
REASONING = [chunk({"reasoning": "Thinking."}), *TEXT]
CUT = [chunk({"content": "Once upon"}), chunk({}, "length")]
SCENARIOS: dict[str, dict[str, Any]] = {
    "text": {"answer": {"chunks": TEXT}},
    "reasoning": {"answer": {"chunks": REASONING}},
    "function": {
        "answer": {"chunks": call_chunks("get_weather", ['{"city":', '"Oslo"}'])},
        "tools": [WEATHER],
    },
    "custom": {
        "answer": {"chunks": call_chunks("apply_patch", ['{"input": "x"}'])},
        "tools": [PATCH],
    },
    "cut": {"answer": {"chunks": CUT}},
    "broken": {"answer": {"chunks": TEXT, "break_after": 2, "delay": 0.05}},
}
CONFORMANCE = {
    "response.created": "text",
    "response.in_progress": "text",
    "response.output_item.added": "text",
    "response.output_item.done": "text",
    "response.content_part.added": "text",
    "response.content_part.done": "text",
    "response.output_text.delta": "text",
    "response.output_text.done": "text",
    "response.completed": "text",
    "response.reasoning_text.delta": "reasoning",
    "response.reasoning_text.done": "reasoning",
    "response.function_call_arguments.delta": "function",
    "response.function_call_arguments.done": "function",
    "response.custom_tool_call_input.delta": "custom",
    "response.custom_tool_call_input.done": "custom",
    "response.incomplete": "cut",
    "response.failed": "broken",
}


def _sdk_event_classes() -> dict[str, type]:
    union = get_args(ResponseStreamEvent)[0]
    return {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(union)}


def test_the_table_names_every_event_type_the_gateway_emits_and_the_sdk_knows_each() -> None:
    source = (ROOT / "layers/common/llm_agg/responses/stream.py").read_text()
    emitted = set(re.findall(r'"(response\.[a-z_.]+)"', source))
    assert emitted == set(CONFORMANCE)
    assert set(CONFORMANCE) <= set(_sdk_event_classes())


@pytest.mark.parametrize("kind", sorted(CONFORMANCE))
def test_each_event_type_is_produced_and_parsed_back_by_the_sdk(
    gateway: Process, fake: FakeUpstream, kind: str
) -> None:
    scenario = SCENARIOS[CONFORMANCE[kind]]
    fake.queue("groq", scenario["answer"])
    tools = scenario.get("tools", [])
    stream = sdk(gateway).responses.create(model=MODEL, input="go", tools=tools, stream=True)
    events = list(stream)
    sequence = [e.sequence_number for e in events]
    assert sequence == list(range(len(events)))
    parsed = [e for e in events if e.type == kind]
    assert parsed, [e.type for e in events]
    assert all(isinstance(e, _sdk_event_classes()[kind]) for e in parsed)


# --- the WebSocket Codex tries first ---------------------------------------------------------


def test_a_real_websocket_handshake_is_answered_426_at_once(gateway: Process) -> None:
    host, port = gateway.url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        "GET /v1/responses HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Authorization: Bearer unused-on-loopback\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(handshake.encode())
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            piece = sock.recv(4096)
            if not piece:
                break
            received += piece
    head, _, body = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n")[0]
    assert status_line.startswith(b"HTTP/1.1 426"), head
    assert b"sec-websocket-accept" not in head.lower()  # never upgraded
    assert json.loads(body)["error"]["code"] == "upgrade_required"
