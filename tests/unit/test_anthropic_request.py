"""OpenAI requests → Anthropic Messages requests, checked against the SDK's recorded bodies."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest

from llm_agg.api.errors import InvalidRequest
from llm_agg.providers.anthropic import DEFAULT_MAX_TOKENS, build_body, build_request
from tests.support.fixtures import load
from tests.support.native import chat, target

WEATHER = load("anthropic/request_tools.json")["tools"][0]


def openai_weather_tool() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": WEATHER["name"],
            "description": WEATHER["description"],
            "parameters": WEATHER["input_schema"],
        },
    }


def body_for(request: dict[str, Any], model: str = "claude-haiku-4-5", **kw: Any) -> Any:
    return build_body(chat(request), target("anthropic", model, **kw))


def test_first_tool_request_is_what_the_sdk_sends():
    expected = load("anthropic/request_tools.json")
    request = {
        "model": "anthropic/claude-haiku-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": expected["messages"][0]["content"]}],
        "tools": [openai_weather_tool()],
    }
    assert body_for(request) == expected


def test_tool_result_followup_is_what_the_sdk_sends():
    expected = load("anthropic/request_tool_result_followup.json")
    tool_use = expected["messages"][1]["content"][0]
    result = expected["messages"][2]["content"][0]
    request = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": expected["messages"][0]["content"]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": tool_use["id"],
                        "type": "function",
                        "function": {
                            "name": tool_use["name"],
                            "arguments": json.dumps(tool_use["input"]),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": result["tool_use_id"], "content": result["content"]},
        ],
        "tools": [openai_weather_tool()],
    }
    # The SDK echoed the response block whole; ``caller`` is an output-only field.
    del tool_use["caller"]
    assert body_for(request) == expected


def test_full_feature_request_maps_every_field():
    expected = load("anthropic/request_full_features.json")
    anthropic_messages = expected["messages"]
    base64_image, url_image, question = anthropic_messages[0]["content"]
    said, tool_use = anthropic_messages[1]["content"]
    result = anthropic_messages[2]["content"][0]
    request = {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 1024,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop": expected["stop_sequences"][0],
        "user": "user-123",
        "tool_choice": "auto",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": expected["tools"][0]["name"],
                    "description": expected["tools"][0]["description"],
                    "parameters": expected["tools"][0]["input_schema"],
                    "strict": True,
                },
            }
        ],
        "messages": [
            {"role": "system", "content": expected["system"]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": "data:image/png;base64," + base64_image["source"]["data"],
                            "detail": "high",
                        },
                    },
                    {"type": "image_url", "image_url": {"url": url_image["source"]["url"]}},
                    {"type": "text", "text": question["text"]},
                ],
            },
            {
                "role": "assistant",
                "content": said["text"],
                "tool_calls": [
                    {
                        "id": tool_use["id"],
                        "type": "function",
                        "function": {"name": tool_use["name"], "arguments": '{"location":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": result["tool_use_id"], "content": result["content"]},
        ],
    }
    # Left at Anthropic's defaults rather than spelled out: stream false, parallel use allowed,
    # a result that is not an error.
    del expected["stream"]
    del expected["tool_choice"]["disable_parallel_tool_use"]
    del result["is_error"]
    assert body_for(request, "claude-sonnet-4-20250514") == expected


def test_request_goes_to_messages_with_key_and_version_headers():
    request = build_request(
        chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        target("anthropic", "claude-haiku-4-5"),
    )
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "anthropic-secret-key"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert json.loads(request.content)["model"] == "claude-haiku-4-5"


def test_system_messages_anywhere_are_hoisted_in_order():
    body = body_for(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Bye"},
            ],
        }
    )
    assert body["system"] == [
        {"type": "text", "text": "Be terse."},
        {"type": "text", "text": "Answer in French."},
    ]
    # The two user turns, now adjacent, become one.
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Bye"}],
        }
    ]


def test_consecutive_tool_results_and_a_user_message_become_one_turn_results_first():
    calls = [
        {"id": f"toolu_{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for i in (1, 2)
    ]
    body = body_for(
        {
            "model": "m",
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "one"},
                {"role": "user", "content": "and then?"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "two"},
            ],
        }
    )
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "two"},
        {"type": "text", "text": "and then?"},
    ]
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_broken_tool_arguments_become_an_empty_input():
    body = body_for(
        {
            "model": "m",
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{"},
                        },
                        {
                            "id": "b",
                            "type": "function",
                            "function": {"name": "f", "arguments": "null"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "a", "content": "x"},
                {"role": "tool", "tool_call_id": "b", "content": "y"},
            ],
        }
    )
    assert [block["input"] for block in body["messages"][1]["content"]] == [{}, {}]


def test_history_with_tool_calls_but_no_tools_declares_them_and_forbids_new_calls():
    body = body_for(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "a", "content": "found"},
            ],
        }
    )
    assert body["tools"] == [{"name": "lookup", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "none"}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, None, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice_and_parallel_tool_calls(choice: Any, parallel: Any, expected: Any):
    request: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "go"}],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
    }
    if choice is not None:
        request["tool_choice"] = choice
    if parallel is not None:
        request["parallel_tool_calls"] = parallel
    assert body_for(request).get("tool_choice") == expected


def test_max_tokens_comes_from_the_request_then_the_catalog_then_the_default():
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert body_for({**ask, "max_completion_tokens": 77}, max_output=9000)["max_tokens"] == 77
    assert body_for({**ask, "max_tokens": 100_000}, max_output=9000)["max_tokens"] == 9000
    assert body_for({**ask, "max_tokens": 100_000})["max_tokens"] == 100_000
    assert body_for({**ask, "max_tokens": 55}, max_output=9000)["max_tokens"] == 55
    assert body_for(ask, max_output=9000)["max_tokens"] == 9000
    assert body_for(ask)["max_tokens"] == DEFAULT_MAX_TOKENS


def test_temperature_is_clamped_to_anthropics_range_and_stop_becomes_a_list():
    body = body_for(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 1.7,
            "stop": ["END", "STOP"],
        }
    )
    assert body["temperature"] == 1.0
    assert body["stop_sequences"] == ["END", "STOP"]


def test_json_mode_is_asked_for_in_the_system_prompt():
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    body = body_for(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "hi"},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema},
            },
        }
    )
    first, instruction = (block["text"] for block in body["system"])
    assert first == "Be terse."
    assert "JSON" in instruction and json.dumps(schema, separators=(",", ":")) in instruction
    plain = body_for(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"},
        }
    )
    assert "JSON object" in plain["system"]


def test_reasoning_effort_enables_thinking_within_max_tokens():
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3}
    body = body_for({**ask, "reasoning_effort": "medium", "max_tokens": 5000, "top_p": 0.5})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4999}
    # Anthropic takes no temperature or narrow top_p while thinking.
    assert "temperature" not in body and "top_p" not in body
    assert "thinking" not in body_for({**ask, "reasoning_effort": "high", "max_tokens": 1000})
    assert "thinking" not in body_for({**ask, "reasoning_effort": "none"})


def test_thinking_is_left_off_in_a_tool_loop():
    body = body_for(
        {
            "model": "m",
            "reasoning_effort": "low",
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "a", "content": "done"},
            ],
        }
    )
    assert "thinking" not in body


def test_user_becomes_metadata_and_stream_is_asked_for():
    body = body_for(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "user": "u-1",
            "stream": True,
        }
    )
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["stream"] is True


def test_dropped_fields_are_left_out_and_logged_by_name_only(caplog: pytest.LogCaptureFixture):
    secret = "do-not-log-this-value"
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.5,
        "logit_bias": {"50256": -100},
        "metadata": {"tag": secret},
        "some_extension": secret,
        "provider": "anthropic",
    }
    with caplog.at_level(logging.DEBUG, logger="llm_agg.providers"):
        sent = json.loads(build_request(chat(request), target("anthropic", "m")).content)
    for name in ("seed", "presence_penalty", "frequency_penalty", "logit_bias", "some_extension"):
        assert name not in sent
    assert "metadata" not in sent and "provider" not in sent
    assert "seed" in caplog.text and "some_extension" in caplog.text
    assert secret not in caplog.text


def test_a_refused_value_is_a_400_if_it_ever_reaches_the_adapter():
    with pytest.raises(InvalidRequest, match="n=1"):
        build_request(
            chat({"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
            target("anthropic", "m"),
        )


def test_a_tool_message_without_its_call_id_is_a_400():
    with pytest.raises(InvalidRequest) as caught:
        body_for({"model": "m", "messages": [{"role": "tool", "content": "x"}]})
    assert caught.value.param == "messages.0.tool_call_id"


def test_a_data_url_that_is_not_base64_is_a_400():
    part = {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}
    with pytest.raises(InvalidRequest):
        body_for({"model": "m", "messages": [{"role": "user", "content": [part]}]})


def test_the_clients_body_is_not_changed():
    request = {
        "model": "m",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        "stop": "x",
    }
    call = chat(request)
    before = copy.deepcopy(call.body)
    build_request(call, target("anthropic", "m"))
    assert call.body == before
