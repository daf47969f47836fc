"""A Responses request becomes the chat body every provider adapter takes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llm_agg.api.errors import InvalidRequest
from llm_agg.api.responses import parse_responses
from llm_agg.responses.request import Translation, to_chat

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}
PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"},
}


def translate(**body: Any) -> Translation:
    body = {"model": "auto", **body}
    return to_chat(parse_responses(body), body)


def refused(**body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        translate(**body)
    assert caught.value.status == 400
    return caught.value


def test_a_string_input_with_instructions_is_a_system_and_a_user_message() -> None:
    chat = translate(input="hi", instructions="Be brief.").call.body
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert chat["model"] == "auto"
    assert "stream" not in chat and "tools" not in chat


def test_a_codex_multi_turn_with_function_and_custom_calls_reads_as_chat() -> None:
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "d"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Looking.", "annotations": []}],
        },
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** P"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {
            "type": "custom_tool_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "applied"}],
        },
    ]
    chat = translate(input=items, tools=[WEATHER, PATCH]).call.body
    assert chat["messages"] == [
        {"role": "system", "content": "d"},
        {"role": "user", "content": "fix it"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "apply_patch", "arguments": '{"input":"*** P"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "applied"},
    ]


def test_a_custom_tool_becomes_a_function_of_one_string_with_its_grammar_described() -> None:
    translation = translate(input="hi", tools=[WEATHER, PATCH])
    weather, patch = translation.call.body["tools"]
    assert weather == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": WEATHER["parameters"],
        },
    }
    function = patch["function"]
    assert function["name"] == "apply_patch"
    assert function["description"].startswith("Edit files.")
    assert "lark" in function["description"] and "start: begin_patch" in function["description"]
    assert function["parameters"]["required"] == ["input"]
    assert function["parameters"]["properties"]["input"]["type"] == "string"
    assert translation.custom_tools == frozenset({"apply_patch"})
    assert translation.call.needs.tools


def test_options_map_to_their_chat_fields() -> None:
    chat = translate(
        input="hi",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
        max_output_tokens=300,
        reasoning={"effort": "low", "summary": "auto"},
        temperature=0.2,
        top_p=0.9,
        user="u1",
        stream=True,
        model_quality="fastest",
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="abc",
    ).call.body
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": {"type": "object"}},
    }
    assert (chat["max_tokens"], chat["reasoning_effort"], chat["temperature"]) == (300, "low", 0.2)
    assert (chat["top_p"], chat["user"], chat["model_quality"]) == (0.9, "u1", "fastest")
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    # What the Responses API has and chat has not stays behind.
    assert not {"store", "include", "prompt_cache_key", "text", "reasoning"} & set(chat)


def test_json_object_format_and_images_route_as_chat_does() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}
    translation = translate(
        input=[{"role": "user", "content": [{"type": "input_text", "text": "what?"}, image]}],
        text={"format": {"type": "json_object"}},
    )
    chat = translation.call.body
    assert chat["response_format"] == {"type": "json_object"}
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
    assert translation.call.needs.vision and translation.call.needs.json


def test_history_comes_before_the_new_input_and_is_kept_with_it() -> None:
    history = [
        {"type": "message", "role": "user", "content": "first"},
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "one", "annotations": []}],
        },
    ]
    body = {"model": "auto", "input": "second", "previous_response_id": "resp_1"}
    translation = to_chat(parse_responses(body), body, history)
    assert [m["content"] for m in translation.call.body["messages"]] == ["first", "one", "second"]
    assert translation.items == [*history, {"type": "message", "role": "user", "content": "second"}]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools", "hosted tool"),
        ({"tools": [{"type": "local_shell"}]}, "tools", "hosted tool"),
        ({"tools": [{"type": "file_search", "vector_store_ids": []}]}, "tools", "hosted"),
        ({"tools": [{"type": "computer_use_preview"}]}, "tools", "hosted"),
        ({"input": [{"type": "local_shell_call", "id": "x"}]}, "input", "not served"),
        ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": 3}]},
         "input.0.arguments", "string"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
         "input.0.content.0.text", "Missing"),
        ({"text": {"format": {"type": "json_schema"}}}, "text.format.name", "Missing"),
        ({"background": True}, "background", "False"),
        ({"temperature": 3}, "temperature", "less than"),
    ],
)  # fmt: skip
def test_what_cannot_be_served_is_a_400_naming_the_field(
    body: dict[str, Any], param: str, words: str
) -> None:
    error = refused(**{"input": "hi", **body})
    assert error.param == param
    assert words in error.message


@pytest.mark.parametrize(
    ("part", "words"),
    [
        ({"type": "input_file", "file_id": "f"}, "input_file"),
        ({"type": "input_image", "file_id": "f"}, "image_url"),
    ],
)
def test_parts_without_a_chat_equivalent_are_refused(part: dict[str, Any], words: str) -> None:
    assert words in refused(input=[{"role": "user", "content": [part]}]).message


def test_images_a_tool_returned_follow_its_run_of_tool_messages() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
    items = [
        {"role": "user", "content": "look at both"},
        {"type": "function_call", "call_id": "c1", "name": "view_image", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "view_image", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [image]},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "ok"}, image]},  # noqa: E501
        {"role": "user", "content": "well?"},
    ]  # fmt: skip
    translation = translate(input=items)
    messages = translation.call.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "user", "user"]
    assert messages[2]["content"] == "[an image, shown after the tool results]"
    assert messages[3]["content"] == "ok\n[an image, shown after the tool results]"
    shown = messages[4]["content"]
    assert [p["type"] for p in shown] == ["text", "image_url", "image_url"]
    assert translation.call.needs.vision


def test_an_empty_input_is_refused() -> None:
    assert refused(input=[]).param == "input"


def test_the_chat_body_is_valid_json_for_the_dispatcher() -> None:
    call = translate(input="hi", tools=[PATCH], stream=True).call
    assert orjson.loads(orjson.dumps(call.body)) == call.body
    assert call.stream and call.include_usage
