"""OpenAI answers → Messages answers: completions, chunk streams, and how they end."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from anthropic.types import Message

from llm_agg.bridges.messages_out import MessagesStream, message
from llm_agg.providers.sse import SSEParser
from tests.support.fixtures import raw
from tests.support.messages_stream import read

BASE = {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1, "model": "m-1"}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    body = {**BASE, "choices": [choice] if delta is not None or finish else [], **extra}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def tool(
    index: int, id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id:
        call |= {"id": id, "type": "function"}
        call["function"]["name"] = name
    return {"tool_calls": [call]}


USAGE = chunk(usage={"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39})
DONE = b"data: [DONE]\n\n"


def translate(body: bytes, thinks: bool = False, stops: list[str] | None = None) -> bytes:
    stream = MessagesStream("asked-model", 12, thinks, stops or [])
    parser = SSEParser()
    out = [f for e in parser.feed(body) for f in stream.feed(e)]
    out += [f for e in parser.flush() for f in stream.feed(e)] + stream.finish()
    return b"".join(out)


def test_a_text_stream_becomes_one_text_block_and_a_clean_end() -> None:
    body = chunk({"role": "assistant", "content": ""}) + chunk({"content": "Hel"})
    body += chunk({"content": "lo"}) + chunk({}, "stop") + USAGE + DONE
    got = read(translate(body))
    assert got.names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert got.message is not None
    assert got.message.content[0].type == "text" and got.message.content[0].text == "Hello"
    assert got.message.id == "msg_abc" and got.message.model == "m-1"
    assert got.message.stop_reason == "end_turn"
    assert got.message.usage.input_tokens == 30 and got.message.usage.output_tokens == 9
    # message_start carries the gateway's estimate until the provider's count arrives.
    assert got.events[0]["message"]["usage"]["input_tokens"] == 12


def test_tool_arguments_arriving_in_many_pieces_stream_as_they_come_and_complete() -> None:
    got = read(translate(raw("openai/stream_tool_call_with_usage.sse")))
    assert got.error is None and got.message is not None
    deltas = [e["delta"]["partial_json"] for e in got.events if e["type"] == "content_block_delta"]
    assert len(deltas) > 3  # one fragment per upstream piece, not one at the end
    (block,) = got.message.content
    assert block.type == "tool_use"
    assert json.loads("".join(deltas)) == block.input and block.input
    assert got.message.stop_reason == "tool_use"


def test_tool_arguments_arriving_whole_with_the_tool_name_are_not_lost() -> None:
    # Cerebras sends id, name and all the arguments in one chunk (the "{}" bug elsewhere).
    got = read(translate(raw("cerebras/stream_tool_call.sse")))
    assert got.message is not None
    (block,) = got.message.content
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == {"location": "Paris"}
    assert got.message.usage.output_tokens == 25


def test_parallel_tool_calls_are_separate_blocks_in_order() -> None:
    body = chunk({"role": "assistant", "content": None})
    body += chunk(tool(0, "call_a", "read", '{"path":'))
    body += chunk(tool(0, args=' "a.py"}'))
    body += chunk(tool(1, "call_b", "read", ""))
    body += chunk(tool(1, args='{"path": "b.py"}'))
    body += chunk({}, "tool_calls") + USAGE + DONE
    got = read(translate(body))
    assert got.message is not None
    ids = [(b.id, b.input) for b in got.message.content if b.type == "tool_use"]
    assert ids == [("call_a", {"path": "a.py"}), ("call_b", {"path": "b.py"})]
    starts = [e["index"] for e in got.events if e["type"] == "content_block_start"]
    stops = [e["index"] for e in got.events if e["type"] == "content_block_stop"]
    assert starts == stops == [0, 1]


def test_parallel_tool_calls_in_one_chunk_become_two_blocks() -> None:
    both = {
        "tool_calls": [
            *tool(0, "c1", "a", "{}")["tool_calls"],
            *tool(1, "c2", "b", '{"x":1}')["tool_calls"],
        ]
    }
    got = read(translate(chunk(both) + chunk({}, "tool_calls") + DONE))
    assert got.message is not None
    assert [(b.name, b.input) for b in got.message.content] == [("a", {}), ("b", {"x": 1})]


def test_text_before_a_tool_call_closes_before_the_tool_block_opens() -> None:
    body = chunk({"content": "Let me look."}) + chunk(tool(0, "c1", "ls", "{}"))
    got = read(translate(body + chunk({}, "tool_calls") + DONE))
    assert got.message is not None
    assert [b.type for b in got.message.content] == ["text", "tool_use"]


def test_reasoning_becomes_thinking_blocks_only_when_the_client_asked() -> None:
    body = chunk({"reasoning": "Think "}) + chunk({"reasoning_content": "hard."})
    body += chunk({"content": "42"}) + chunk({}, "stop") + DONE
    thinking = read(translate(body, thinks=True))
    assert thinking.message is not None
    first, second = thinking.message.content
    assert first.type == "thinking" and first.thinking == "Think hard."
    assert second.type == "text" and second.text == "42"
    plain = read(translate(body, thinks=False))
    assert plain.message is not None and [b.type for b in plain.message.content] == ["text"]


@pytest.mark.parametrize(
    ("finish", "extra", "stops", "reason", "sequence"),
    [
        ("stop", {}, [], "end_turn", None),
        ("length", {}, [], "max_tokens", None),
        ("content_filter", {}, [], "refusal", None),
        ("stop", {"stop_reason": "END"}, ["END"], "stop_sequence", "END"),
        ("stop", {"stop_reason": "END"}, [], "end_turn", None),
    ],
)
def test_finish_reasons_map_to_stop_reasons(
    finish: str, extra: dict[str, Any], stops: list[str], reason: str, sequence: str | None
) -> None:
    finish_chunk = {
        **BASE,
        "choices": [{"index": 0, "delta": {}, "finish_reason": finish, **extra}],
    }
    body = chunk({"content": "x"}) + b"data: " + orjson.dumps(finish_chunk) + b"\n\n" + DONE
    got = read(translate(body, stops=stops))
    assert got.message is not None
    assert (got.message.stop_reason, got.message.stop_sequence) == (reason, sequence)


def test_an_error_frame_mid_stream_is_an_error_event_and_nothing_after() -> None:
    error = {"error": {"message": "boom", "type": "server_error", "code": "upstream_stream_error"}}
    body = chunk({"content": "partial"}) + b"data: " + orjson.dumps(error) + b"\n\n"
    got = read(translate(body + chunk({"content": "late"}) + DONE))
    assert got.error == {"type": "api_error", "message": "boom"}
    assert "message_stop" not in got.names and "message_delta" not in got.names


def test_a_rate_limit_error_mid_stream_keeps_its_kind() -> None:
    error = {"error": {"message": "slow down", "type": "rate_limit_error"}}
    got = read(translate(chunk({"content": "a"}) + b"data: " + orjson.dumps(error) + b"\n\n"))
    assert got.error == {"type": "rate_limit_error", "message": "slow down"}


def test_a_stream_that_ends_without_done_ends_with_an_error_not_message_stop() -> None:
    got = read(translate(chunk({"content": "cut"}) + chunk({}, "stop")))
    assert got.error is not None and "ended before" in got.error["message"]
    assert "message_stop" not in got.names


def test_interleaved_parallel_tool_fragments_fail_rather_than_lose_arguments() -> None:
    body = chunk(tool(0, "c1", "a", '{"x":')) + chunk(tool(1, "c2", "b", "{}"))
    got = read(translate(body + chunk(tool(0, args="1}")) + DONE))
    assert got.error is not None and "interleaved" in got.error["message"]


def test_a_completion_becomes_a_message_the_sdk_reads() -> None:
    answer = Message.model_validate_json(
        message(raw("openai/response_parallel_tool_calls.json"), False, [])
    )
    assert [b.type for b in answer.content] == ["tool_use", "tool_use"]
    first = answer.content[0]
    assert first.type == "tool_use" and first.input == {
        "city": "Edinburgh",
        "country": "GB",
        "units": "c",
    }
    assert answer.stop_reason == "tool_use"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (149, 60)


def test_a_text_completion_keeps_cached_tokens_apart() -> None:
    body = {
        "id": "chatcmpl-9",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 60},
        },
    }
    answer = Message.model_validate_json(message(orjson.dumps(body), False, []))
    assert answer.stop_reason == "max_tokens"
    assert answer.usage.input_tokens == 40 and answer.usage.cache_read_input_tokens == 60


def test_a_reasoning_completion_gives_a_thinking_block_first_when_asked() -> None:
    answer = Message.model_validate_json(message(raw("groq/response_reasoning.json"), True, []))
    assert answer.content[0].type == "thinking"
    assert answer.content[-1].type == "text"
