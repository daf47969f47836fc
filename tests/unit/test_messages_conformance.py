"""The conformance table of ``/v1/messages`` streams: every event type and delta type the
anthropic SDK parses (read from its own type definitions) is either produced by the bridge
and parsed back by the SDK, or listed here with the reason it never is. A new type in the
SDK fails this test until it gets a row."""

from __future__ import annotations

from typing import Any, get_args

import orjson
from anthropic.types import RawContentBlockDelta, RawMessageStreamEvent

from llm_agg.bridges.messages_out import MessagesStream
from llm_agg.providers.sse import SSEParser
from tests.support.messages_stream import read

BASE = {"id": "chatcmpl-c", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def frame(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
    choices = (
        [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if delta is not None else []
    )
    return b"data: " + orjson.dumps({**BASE, "choices": choices, **extra}) + b"\n\n"


TOOL = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "f", "arguments": '{"a"'},
}
# Upstream OpenAI chunk streams, each exercising some rows of the table.
SCENARIOS = {
    "text": frame({"role": "assistant", "content": ""})
    + frame({"content": "hi"})
    + frame({}, "stop")
    + frame(None, usage={"prompt_tokens": 3, "completion_tokens": 1})
    + b"data: [DONE]\n\n",
    "thinking then a tool call": frame({"reasoning_content": "hmm"})
    + frame({"tool_calls": [TOOL]})
    + frame({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]})
    + frame({}, "tool_calls")
    + b"data: [DONE]\n\n",
    "an upstream failure": frame({"content": "x"}) + b'data: {"error": {"message": "boom"}}\n\n',
}

# Event type → the scenario that produces it.
EVENTS = {
    "message_start": "text",
    "content_block_start": "text",
    "content_block_delta": "text",
    "content_block_stop": "text",
    "message_delta": "text",
    "message_stop": "text",
    "ping": "text",
    "error": "an upstream failure",
}
DELTAS = {
    "text_delta": "text",
    "input_json_delta": "thinking then a tool call",
    "thinking_delta": "thinking then a tool call",
}
NEVER_PRODUCED = {
    "citations_delta": "no OpenAI-format provider cites documents; Anthropic's own are relayed",
    "signature_delta": "only Anthropic signs its thinking; its streams are relayed as they are",
}
# Events the SDK's stream reader handles itself rather than parsing into a model.
READER_EVENTS = {"ping", "error"}


def discriminators(union: Any) -> set[str]:
    members = get_args(get_args(union)[0])
    return {get_args(m.model_fields["type"].annotation)[0] for m in members}


def produced(name: str) -> tuple[list[str], set[str]]:
    stream = MessagesStream("m", 1, thinks=True, stops=[])
    parser = SSEParser()
    body = b"".join(f for e in parser.feed(SCENARIOS[name]) for f in stream.feed(e))
    got = read(body + b"".join(stream.finish()))
    deltas = {e["delta"]["type"] for e in got.events if e["type"] == "content_block_delta"}
    return got.names, deltas


def test_the_table_covers_every_event_and_delta_type_the_sdk_parses() -> None:
    assert discriminators(RawMessageStreamEvent) | READER_EVENTS == set(EVENTS)
    assert discriminators(RawContentBlockDelta) == set(DELTAS) | set(NEVER_PRODUCED)


def test_every_row_is_produced_by_its_scenario_and_parsed_back_by_the_sdk() -> None:
    for event, scenario in EVENTS.items():
        names, _ = produced(scenario)
        assert event in names, f"{scenario!r} does not produce {event}"
    for delta, scenario in DELTAS.items():
        _, deltas = produced(scenario)
        assert delta in deltas, f"{scenario!r} does not produce {delta}"
