"""OpenAI requests → Cohere v2 Chat requests, checked against Cohere's documented examples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_agg.api.errors import InvalidRequest
from llm_agg.providers.cohere import build_body, build_request
from tests.support.fixtures import load
from tests.support.native import chat, target


def body_for(request: dict[str, Any], model: str = "command-a-03-2025", **kw: Any) -> Any:
    return build_body(chat(request), target("cohere", model, **kw))


@pytest.mark.parametrize(
    "name",
    [
        "cohere/request_text.json",
        "cohere/request_tools.json",
        "cohere/request_stream_tools.json",
        "cohere/request_image.json",
    ],
)
def test_documented_requests_are_what_an_openai_request_becomes(name: str):
    # Cohere v2 shares OpenAI's message, tool and image shapes: the OpenAI request that asks
    # the same is the documented body itself, with a provider prefix on the model.
    expected = load(name)
    request = {**expected, "model": "cohere/" + expected["model"]}
    assert body_for(request, expected["model"]) == expected


def test_full_feature_request_maps_every_field():
    expected = load("cohere/request_full_features.json")
    system, user, assistant, tool = expected["messages"]
    request = {
        "model": "command-a-03-2025",
        "max_tokens": 512,
        "temperature": 0.3,
        "top_p": 0.75,
        "top_k": 0,
        "seed": 42,
        "stop": "END",
        "tool_choice": "required",
        "tools": expected["tools"],
        "messages": [
            system,
            user,
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": assistant["tool_plan"],
                "tool_calls": assistant["tool_calls"],
            },
            {
                "role": "tool",
                "tool_call_id": tool["tool_call_id"],
                "content": tool["content"][0]["document"]["data"],
            },
        ],
    }
    # A tool result travels as a string, which Cohere takes as well as document blocks.
    tool["content"] = tool["content"][0]["document"]["data"]
    assert body_for(request) == expected


def test_request_goes_to_v2_chat_with_a_bearer_key():
    request = build_request(
        chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        target("cohere", "command-a-03-2025"),
    )
    assert request.url == "https://api.cohere.com/v2/chat"
    assert request.headers["authorization"] == "Bearer cohere-secret-key"
    assert json.loads(request.content)["model"] == "command-a-03-2025"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", None), ("none", "NONE"), ("required", "REQUIRED"), (None, None)],
)
def test_tool_choice(choice: str | None, expected: str | None):
    request: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "go"}],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
    }
    if choice is not None:
        request["tool_choice"] = choice
    assert body_for(request).get("tool_choice") == expected


def test_a_named_tool_choice_offers_only_that_tool_and_requires_a_call():
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
        for name in ("a", "b")
    ]
    body = body_for(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "go"}],
            "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "b"}},
        }
    )
    assert [t["function"]["name"] for t in body["tools"]] == ["b"]
    assert body["tool_choice"] == "REQUIRED"
    with pytest.raises(InvalidRequest):
        body_for(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "go"}],
                "tools": tools,
                "tool_choice": {"type": "function", "function": {"name": "c"}},
            }
        )


def test_sampling_is_clamped_to_cohere_ranges():
    body = body_for(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 1.5,
            "top_p": 1.0,
            "top_k": 900,
            "frequency_penalty": -1.0,
            "presence_penalty": 1.5,
        }
    )
    assert body["temperature"] == 1.0
    assert body["p"] == 0.99
    assert body["k"] == 500
    assert body["frequency_penalty"] == 0.0
    assert body["presence_penalty"] == 1.0


def test_json_modes():
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    assert body_for({**ask, "response_format": {"type": "json_object"}})["response_format"] == {
        "type": "json_object"
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert body_for({**ask, "response_format": fmt})["response_format"] == {
        "type": "json_object",
        "json_schema": schema,
    }
    assert "response_format" not in body_for({**ask, "response_format": {"type": "text"}})


def test_developer_messages_become_system_and_empty_assistant_turns_are_left_out():
    body = body_for(
        {
            "model": "m",
            "max_completion_tokens": 20,
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]},
                {"role": "user", "content": "Hi", "name": "alice"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "Hello?"},
            ],
        }
    )
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": "Hello?"},
    ]
    assert body["max_tokens"] == 20


def test_dropped_fields_are_left_out():
    sent = json.loads(
        build_request(
            chat(
                {
                    "model": "m",
                    "messages": [{"role": "user", "content": "hi"}],
                    "user": "u-1",
                    "logit_bias": {"1": 1},
                    "parallel_tool_calls": False,
                    "reasoning_effort": "high",
                    "model_quality": "fastest",
                }
            ),
            target("cohere", "m"),
        ).content
    )
    assert set(sent) == {"model", "messages", "stream"}


def test_max_tokens_is_held_to_the_models_output_limit():
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert body_for({**ask, "max_tokens": 50_000}, max_output=8000)["max_tokens"] == 8000
    assert body_for({**ask, "max_tokens": 500}, max_output=8000)["max_tokens"] == 500
    assert "max_tokens" not in body_for(ask, max_output=8000)
