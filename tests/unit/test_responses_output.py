"""Chat completions → Response objects, read back with the openai SDK's own types."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import Response

from llm_agg.api.responses import parse_responses
from llm_agg.responses.output import custom_input, from_completion, shell
from tests.support.fixtures import load


def answer(
    completion: dict[str, Any], custom: frozenset[str] = frozenset(), **body: Any
) -> Response:
    request = parse_responses({"model": "auto", "input": "hi", **body})
    result = from_completion(completion, shell(request, "resp_t", 5.0, "auto"), custom)
    return Response.model_validate(result)


def test_a_text_completion_is_a_completed_message_with_usage() -> None:
    completion = load("groq/response_text.json")
    response = answer(completion, instructions="Be kind.", metadata={"k": "v"})
    assert response.status == "completed" and response.object == "response"
    assert response.output_text == completion["choices"][0]["message"]["content"]
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.model == completion["model"]
    assert response.usage is not None
    assert response.usage.input_tokens == completion["usage"]["prompt_tokens"]
    assert response.usage.total_tokens == completion["usage"]["total_tokens"]
    assert (response.instructions, response.metadata) == ("Be kind.", {"k": "v"})


def test_parallel_tool_calls_are_function_call_items_in_order() -> None:
    completion = load("openai/response_parallel_tool_calls.json")
    calls = completion["choices"][0]["message"]["tool_calls"]
    response = answer(completion)
    items = [item for item in response.output if item.type == "function_call"]
    assert [(i.call_id, i.name, i.arguments) for i in items] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls
    ]
    assert len({i.id for i in items}) == len(items)


def test_a_custom_tool_call_comes_back_as_custom_tool_call() -> None:
    completion = {
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "apply_patch", "arguments": '{"input": "P"}'},
                        }
                    ],
                },
            }
        ],
    }
    response = answer(
        completion, frozenset({"apply_patch"}), tools=[{"type": "custom", "name": "apply_patch"}]
    )
    item = response.output[0]
    assert (item.type, item.call_id, item.name, item.input) == (
        "custom_tool_call",
        "call_1",
        "apply_patch",
        "P",
    )
    assert response.tools[0].type == "custom"


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        ('{"input": "a\\nb"}', "a\nb"),
        ("raw patch text", "raw patch text"),
        ('{"x": 1}', '{"x": 1}'),
    ],
)
def test_custom_input_is_read_from_the_function_arguments(arguments: str, text: str) -> None:
    assert custom_input(arguments) == text


def test_a_completion_cut_at_the_limit_is_incomplete() -> None:
    response = answer(load("openai/response_finish_length.json"), max_output_tokens=5)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 5


def test_reasoning_comes_back_as_a_reasoning_item() -> None:
    completion = load("groq/response_reasoning.json")
    response = answer(completion)
    kinds = [item.type for item in response.output]
    assert kinds[0] == "reasoning"
    assert response.output[0].content and response.output[0].content[0].text
