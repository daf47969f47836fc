"""A Messages request → the OpenAI chat body the dispatcher serves."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llm_agg.api.errors import InvalidRequest
from llm_agg.api.messages import parse_messages
from llm_agg.bridges.messages_in import chat_body, chat_call, resolve_model
from llm_agg.routing.catalog import Catalog, ModelInfo, parse_catalog

EMPTY = Catalog()
IMAGE = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def convert(catalog: Catalog = EMPTY, **fields: Any) -> dict[str, Any]:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, **fields}
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    _, request = parse_messages(orjson.dumps(body))
    out = chat_body(request, catalog)
    chat_call(out)  # and the dispatcher takes it
    return out


def test_system_blocks_are_one_system_message_and_cache_control_is_dropped() -> None:
    system = [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief."},
    ]
    out = convert(system=system)
    assert out["messages"][0] == {"role": "system", "content": "You are Claude Code.\nBe brief."}
    assert "cache_control" not in orjson.dumps(out).decode()


def test_tool_round_trip_becomes_tool_calls_and_tool_messages() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "no data"}],
                    "is_error": True,
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    out = convert(messages=messages)["messages"]
    assert out[1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
            },
        ],
    }
    assert out[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}
    assert out[3] == {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no data"}
    assert out[4] == {"role": "user", "content": "And tomorrow?"}


def test_images_become_data_urls_and_urls_and_tool_result_images_follow_as_user_parts() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": IMAGE},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                {"type": "text", "text": "What are these?"},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "image", "source": IMAGE}],
                }
            ],
        },
    ]
    out = convert(messages=messages)["messages"]
    assert out[0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
        {"type": "text", "text": "What are these?"},
    ]
    assert out[1]["content"] is None
    assert out[2] == {"role": "tool", "tool_call_id": "t1", "content": ""}
    assert out[3]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert chat_call(convert(messages=messages)).needs.vision


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any"}, "required", None),
        ({"type": "none"}, "none", None),
        (
            {"type": "tool", "name": "weather"},
            {"type": "function", "function": {"name": "weather"}},
            None,
        ),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
    ],
)
def test_tools_and_tool_choice_map_to_functions(
    choice: dict[str, Any], expected: Any, parallel: Any
) -> None:
    tools = [
        {
            "name": "weather",
            "description": "Weather now",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "cache_control": {"type": "ephemeral"},
        }
    ]
    out = convert(tools=tools, tool_choice=choice)
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": tools[0]["input_schema"],
                "description": "Weather now",
            },
        }
    ]
    assert out["tool_choice"] == expected
    assert out.get("parallel_tool_calls") == parallel


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ],
)
def test_server_tools_are_refused_never_sent_as_functions(tool: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        convert(tools=[{"name": "ok", "input_schema": {"type": "object"}}, tool])
    assert tool["type"] in caught.value.message and caught.value.param == "tools"


def test_what_only_anthropic_serves_is_left_out_when_only_anthropic_can_serve_or_counting() -> None:
    body = {
        "model": "anthropic/claude-haiku-4-5",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}},
                    {"type": "text", "text": "hi"},
                ],
            }
        ],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
    }
    _, request = parse_messages(orjson.dumps(body))
    assert "tools" not in chat_body(request, EMPTY, anthropic_only=True)
    assert "tools" not in chat_body(request, EMPTY, counting=True)


def test_a_document_block_is_refused_by_name() -> None:
    content = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    ]
    with pytest.raises(InvalidRequest) as caught:
        convert(messages=[{"role": "user", "content": content}])
    assert "'document'" in caught.value.message and caught.value.param == "messages.0.content.0"


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, None, "low"),
        ({"type": "enabled", "budget_tokens": 10000}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 31999}, None, "high"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "disabled"}, None, None),
        (None, None, None),
    ],
)
def test_thinking_becomes_reasoning_effort(
    thinking: dict[str, Any] | None, output_config: dict[str, Any] | None, effort: str | None
) -> None:
    fields: dict[str, Any] = {}
    if thinking:
        fields["thinking"] = thinking
    if output_config:
        fields["output_config"] = output_config
    assert convert(**fields).get("reasoning_effort") == effort


def test_sampling_stop_sequences_user_stream_and_json_schema_map() -> None:
    out = convert(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop_sequences=["END"],
        metadata={"user_id": "user-7"},
        stream=True,
        output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
    )
    assert (out["temperature"], out["top_p"], out["top_k"], out["stop"]) == (0.2, 0.9, 40, ["END"])
    assert out["user"] == "user-7"
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": {"type": "object"}},
    }


@pytest.mark.parametrize(
    ("model", "expected", "quality"),
    [
        ("claude-opus-4-1", "auto", "best_quality"),
        ("claude-opus-4-1-20250805", "auto", "best_quality"),
        ("claude-sonnet-4-5-20250929", "auto", "balanced"),
        ("claude-3-5-haiku-latest", "auto", "fastest"),
        ("claude-haiku-4-5", "auto", "fastest"),
        ("groq/llama-3.3-70b-versatile", "groq/llama-3.3-70b-versatile", None),
        ("auto", "auto", None),
    ],
)
def test_claude_ids_map_to_auto_by_quality(model: str, expected: str, quality: str | None) -> None:
    out = convert(model=model)
    assert out["model"] == expected
    assert out.get("model_quality") == quality


def test_the_catalog_aliases_override_the_claude_defaults() -> None:
    catalog = parse_catalog(
        {
            "providers": {},
            "aliases": {
                "claude-sonnet-*": {"model": "groq/moonshotai/kimi-k2-instruct-0905"},
                "claude-haiku-4-5": {"model": "auto", "model_quality": "balanced"},
            },
        }
    )
    assert (
        resolve_model("claude-sonnet-4-5", catalog).model == "groq/moonshotai/kimi-k2-instruct-0905"
    )
    assert resolve_model("claude-haiku-4-5", catalog).model_quality == "balanced"
    assert resolve_model("claude-opus-4-1", catalog).model_quality == "best_quality"


def test_a_claude_id_the_catalog_lists_is_served_as_that_model() -> None:
    catalog = Catalog(models=(ModelInfo("anthropic", "claude-haiku-4-5"),))
    assert resolve_model("claude-haiku-4-5", catalog).model == "claude-haiku-4-5"


def test_the_client_model_quality_wins_over_the_alias() -> None:
    assert convert(model="claude-opus-4-1", model_quality="fastest")["model_quality"] == "fastest"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]},
            "max_tokens",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "bogus"}]}],
            },
            "messages",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]},
            "messages.0.role",
        ),
        ({"model": "m", "max_tokens": 5, "messages": [], "temperature": 3}, "temperature"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_messages(orjson.dumps(body))
    assert caught.value.param is not None and caught.value.param.startswith(param)


def test_a_tool_choice_of_a_tool_needs_its_name() -> None:
    tools = [{"name": "a", "input_schema": {"type": "object"}}]
    with pytest.raises(InvalidRequest):
        convert(tools=tools, tool_choice={"type": "tool"})
