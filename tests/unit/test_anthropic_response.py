"""Anthropic answers and model lists → OpenAI's, from the SDK's recorded responses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_agg.providers.anthropic import FORMAT, parse_models, parse_response
from llm_agg.providers.base import MalformedResponse, Usage
from llm_agg.providers.native_adapter import NativeAdapter
from tests.support.fixtures import load, raw
from tests.support.native import chat, target

CREATED = 1_772_000_000


def answer(name: str) -> tuple[dict[str, Any], Any]:
    completion = parse_response(raw(name), "claude-asked-for", CREATED)
    return json.loads(completion.body), completion


def test_text_answer_reads_as_an_openai_completion():
    body, completion = answer("anthropic/response_end_turn.json")
    assert body == {
        "id": "chatcmpl-msg_01LzoWDaDa7jiMvVbBiguxJy",
        "object": "chat.completion",
        "created": CREATED,
        "model": "claude-haiku-4-5-20251001",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The weather in SF is currently **20°C** (68°F) and **Sunny**!",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 705, "completion_tokens": 25, "total_tokens": 730},
    }
    assert completion.usage == Usage(705, 25)
    assert completion.finish_reason == "stop"


def test_tool_use_answer_gives_tool_calls_with_json_string_arguments_and_the_anthropic_id():
    body, completion = answer("anthropic/response_tool_use.json")
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": "toolu_013DU6hV4C1M8dJ32ybQFAFi",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"SF","units":"c"}'},
        }
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert completion.usage == Usage(597, 71)


def message_with(blocks: list[dict[str, Any]], **fields: Any) -> bytes:
    recorded = load("anthropic/response_end_turn.json")
    return json.dumps({**recorded, "content": blocks, **fields}).encode()


def test_thinking_becomes_reasoning_content_and_text_blocks_are_joined():
    completion = parse_response(
        message_with(
            [
                {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Hello"},
                {"type": "text", "text": " world"},
            ]
        ),
        "m",
        CREATED,
    )
    message = json.loads(completion.body)["choices"][0]["message"]
    assert message["content"] == "Hello world"
    assert message["reasoning_content"] == "Let me think."


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_every_stop_reason_has_its_openai_finish_reason(stop_reason: str, finish_reason: str):
    completion = parse_response(message_with([], stop_reason=stop_reason), "m", CREATED)
    assert completion.finish_reason == finish_reason
    assert json.loads(completion.body)["choices"][0]["finish_reason"] == finish_reason


def test_cached_input_tokens_count_as_prompt_tokens():
    recorded = load("anthropic/response_end_turn.json")
    usage = {
        **recorded["usage"],
        "input_tokens": 5,
        "cache_read_input_tokens": 700,
        "cache_creation_input_tokens": 10,
    }
    completion = parse_response(message_with(recorded["content"], usage=usage), "m", CREATED)
    assert completion.usage == Usage(715, 25)
    assert json.loads(completion.body)["usage"] == {
        "prompt_tokens": 715,
        "completion_tokens": 25,
        "total_tokens": 740,
        "prompt_tokens_details": {"cached_tokens": 700},
    }


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", raw("anthropic/error_529_overloaded.json"), b'{"type":"message"}']
)
def test_a_2xx_that_is_not_a_message_is_malformed(body: bytes):
    with pytest.raises(MalformedResponse):
        parse_response(body, "m", CREATED)


def test_the_adapter_stamps_the_answer_with_its_clock():
    adapter = NativeAdapter(FORMAT, clock=lambda: 1234.9)
    call = chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    completion = adapter.parse_response(
        raw("anthropic/response_end_turn.json"), call, target("anthropic", "m")
    )
    assert json.loads(completion.body)["created"] == 1234


def test_models_list_is_read_with_creation_times():
    models = parse_models(raw("anthropic/models_list.json"))
    assert [(m.id, m.created) for m in models] == [
        ("claude-sonnet-4-20250514", 1747872000),
        ("claude-3-5-haiku-20241022", 1729555200),
    ]


def test_models_are_asked_of_v1_models_with_the_key():
    request = NativeAdapter(FORMAT).models_request(target("anthropic", "m").spec, "sk-ant")
    assert request.url == "https://api.anthropic.com/v1/models?limit=1000"
    assert request.headers["x-api-key"] == "sk-ant"
    assert request.headers["anthropic-version"] == "2023-06-01"
