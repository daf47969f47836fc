"""``client.responses`` over native upstreams: Anthropic and Cohere played from their recorded
streams by tests/fakes/fake_native.py, behind a real ``llm-agg serve``."""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.harness import NativeFake
from tests.e2e.test_native_e2e import (  # noqa: F401  (fixtures, used by name)
    CLAUDE,
    COMMAND,
    client,
    gateway,
    native,
)
from tests.functional.conformance_kits import STREAM_TOOL

pytestmark = pytest.mark.e2e

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    "strict": False,
}


def test_anthropic_text_and_a_tool_call_stream_as_responses_events(
    client: openai.OpenAI,  # noqa: F811
    native: NativeFake,  # noqa: F811
) -> None:
    native.play("anthropic", "anthropic/stream_tool_use.sse")
    with client.responses.stream(
        model=CLAUDE, input="What's the weather in Paris?", tools=[WEATHER], store=False
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    message, call = final.output
    assert final.output_text == "I'll check the current weather in Paris for you."
    assert message.type == "message"
    assert call.type == "function_call" and call.call_id == "toolu_01NRLabsLyVHZPKxbKvkfSMn"
    assert call.arguments == '{"location": "Paris"}'
    pieces = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(pieces) > 1 and "".join(pieces) == call.arguments  # as Anthropic sent them
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (377, 65)
    sent = native.received("anthropic")[-1]["body"]
    assert sent["tools"][0]["name"] == "get_weather"


def test_an_anthropic_failure_mid_stream_ends_the_response_failed(
    client: openai.OpenAI,  # noqa: F811
    native: NativeFake,  # noqa: F811
) -> None:
    native.play("anthropic", "anthropic/stream_error_overloaded.sse")
    events = list(client.responses.create(model=CLAUDE, input="Hello", stream=True, store=False))
    kinds = [e.type for e in events]
    assert kinds[-1] == "response.failed" and "response.completed" not in kinds
    assert "Overloaded" in events[-1].response.error.message
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hello"


def test_cohere_plan_and_parallel_calls_come_back_as_reasoning_and_function_calls(
    client: openai.OpenAI,  # noqa: F811
    native: NativeFake,  # noqa: F811
) -> None:
    native.play("cohere", "cohere/stream_tool_call.sse")
    tools = [
        {"type": "function", "name": name, "parameters": {"type": "object"}, "strict": False}
        for name in ("query_daily_sales_report", "query_product_catalog")
    ]
    with client.responses.stream(
        model=COMMAND,
        input="Sales on 2023-09-29, and electronics?",
        tools=tools,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_response()
    reasoning, *calls = final.output
    assert reasoning.type == "reasoning"
    assert reasoning.content and reasoning.content[0].text.startswith("I will use the query_daily")
    got = [(c.call_id, c.name, json.loads(c.arguments)) for c in calls if c.type == "function_call"]
    assert got == STREAM_TOOL["cohere"][1].tool_calls
