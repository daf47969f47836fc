"""The official OpenAI SDK against a real ``llm-agg serve`` whose Anthropic and Cohere are a
loopback fake playing their recorded answers: what the SDK parses is what an OpenAI model gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.e2e.harness import ROOT, NativeFake, Process, start_gateway, start_native_fake
from tests.functional.conformance_kits import STREAM_TOOL
from tests.support.fixtures import load, sse_events

pytestmark = pytest.mark.e2e

ANTHROPIC_KEY = "sk-ant-e2e-native-0001"
COHERE_KEY = "co-e2e-native-0002"
CLAUDE = "anthropic/claude-haiku-4-5"
COMMAND = "cohere/command-a-03-2025"


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeFake]:
    fake = start_native_fake(tmp_path_factory.mktemp("native"))
    yield fake
    fake.process.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, native: NativeFake) -> Iterator[Process]:
    env = {
        "LLM_AGG_CONFIG": str(ROOT / "tests/e2e/native_providers.yaml"),
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": f"{native.url}/anthropic",
        "COHERE_API_KEY": COHERE_KEY,
        "COHERE_BASE_URL": f"{native.url}/cohere",
    }
    process = start_gateway(tmp_path_factory.mktemp("native-gateway"), env)
    yield process
    process.stop()


@pytest.fixture
def client(gateway: Process, native: NativeFake) -> Iterator[openai.OpenAI]:
    native.reset()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk
    secrets = (ANTHROPIC_KEY, COHERE_KEY)
    assert not any(secret in gateway.output() for secret in secrets), "a key reached the log"


def within(ours: Any, theirs: Any, where: str = "") -> None:
    """Every field we set, OpenAI sets too (recursively): nothing an OpenAI model would not send."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), where
        extra = set(ours) - set(theirs)
        assert not extra, f"{where}: fields OpenAI does not send: {sorted(extra)}"
        for key, value in ours.items():
            within(value, theirs[key], f"{where}.{key}")
    elif isinstance(ours, list) and ours and theirs:
        for item in ours:
            within(item, theirs[0], f"{where}[]")


def shape(model: ChatCompletion | ChatCompletionChunk) -> Any:
    return model.model_dump(exclude_unset=True)


def openai_answer(name: str) -> Any:
    return shape(ChatCompletion.model_validate(load(name)))


def merged(shapes: list[Any]) -> Any:
    """One shape holding every field any of ``shapes`` has (lists merged item by item)."""
    dicts = [s for s in shapes if isinstance(s, dict)]
    if dicts:
        keys = dict.fromkeys(k for d in dicts for k in d)
        return {k: merged([d[k] for d in dicts if k in d]) for k in keys}
    items = [item for s in shapes if isinstance(s, list) for item in s]
    return [merged(items)] if items else shapes[0]


def openai_chunk_fields() -> Any:
    """Every field of OpenAI's recorded chunks, text and tool calls, with and without usage."""
    return merged(
        [
            shape(ChatCompletionChunk.model_validate_json(event.removeprefix(b"data: ").strip()))
            for name in (
                "openai/stream_text_with_usage.sse",
                "openai/stream_tool_call_with_usage.sse",
            )
            for event in sse_events(name)
            if not event.startswith(b"data: [DONE]")
        ]
    )


WEATHER = load("anthropic/request_tools.json")["tools"][0]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": WEATHER["name"],
        "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"],
    },
}


def test_anthropic_answer_is_an_openai_completion(client: openai.OpenAI, native: NativeFake):
    native.play("anthropic", "anthropic/response_end_turn.json")
    completion = client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "What's the weather in SF?"}]
    )
    assert completion.object == "chat.completion"
    assert completion.id == "chatcmpl-msg_01LzoWDaDa7jiMvVbBiguxJy"
    assert completion.model == "claude-haiku-4-5-20251001"
    (choice,) = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "The weather in SF is currently **20°C** (68°F) and **Sunny**!"
    assert choice.message.tool_calls is None
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (705, 25)
    assert completion.usage.total_tokens == 730
    within(shape(completion), openai_answer("openai/response_text.json"))


def test_anthropic_tool_round_trip_sends_what_the_anthropic_sdk_sends(
    client: openai.OpenAI, native: NativeFake
):
    first_request = load("anthropic/request_tools.json")
    followup = load("anthropic/request_tool_result_followup.json")
    native.play("anthropic", "anthropic/response_tool_use.json", "anthropic/response_end_turn.json")
    question = {"role": "user", "content": first_request["messages"][0]["content"]}
    first = client.chat.completions.create(
        model=CLAUDE, max_tokens=1024, messages=[question], tools=[WEATHER_TOOL]
    )
    assert first.choices[0].finish_reason == "tool_calls"
    message = first.choices[0].message
    assert message.content is None
    (call,) = message.tool_calls or []
    assert call.id == "toolu_013DU6hV4C1M8dJ32ybQFAFi"
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "SF", "units": "c"}
    within(shape(first), openai_answer("openai/response_tool_call.json"))

    result = followup["messages"][2]["content"][0]["content"]
    second = client.chat.completions.create(
        model=CLAUDE,
        max_tokens=1024,
        messages=[question, message, {"role": "tool", "tool_call_id": call.id, "content": result}],
        tools=[WEATHER_TOOL],
    )
    assert second.choices[0].message.content.startswith("The weather in SF is currently")
    assert second.choices[0].finish_reason == "stop"

    sent_first, sent_second = native.received("anthropic")
    assert sent_first["body"] == first_request
    del followup["messages"][1]["content"][0]["caller"]  # output-only, echoed by that SDK
    assert sent_second["body"] == followup
    assert sent_second["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert sent_second["headers"]["anthropic-version"] == "2023-06-01"
    assert sent_second["path"] == "/anthropic/v1/messages"


def test_anthropic_stream_of_text_and_a_tool_call(client: openai.OpenAI, native: NativeFake):
    native.play("anthropic", "anthropic/stream_tool_use.sse")
    with client.chat.completions.stream(
        model=CLAUDE,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream_options={"include_usage": True},
    ) as stream:
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "I'll check the current weather in Paris for you."
    (call,) = message.tool_calls or []
    assert call.id == "toolu_01NRLabsLyVHZPKxbKvkfSMn"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"location": "Paris"}'
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (377, 65)
    recorded = openai_chunk_fields()
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        within(shape(chunk), recorded)


def test_anthropic_error_mid_stream_raises_in_the_sdk(client: openai.OpenAI, native: NativeFake):
    native.play("anthropic", "anthropic/stream_error_overloaded.sse")
    stream = client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    said = []
    with pytest.raises(openai.APIError, match="Overloaded"):
        for chunk in stream:
            said.append(chunk.choices[0].delta.content or "")
    assert "".join(said) == "Hello"


def test_cohere_answer_is_an_openai_completion(client: openai.OpenAI, native: NativeFake):
    native.play("cohere", "cohere/response_text.json")
    completion = client.chat.completions.create(
        model=COMMAND, messages=[{"role": "user", "content": "Tell me about LLMs"}]
    )
    (choice,) = completion.choices
    text = load("cohere/response_text.json")["message"]["content"][0]["text"]
    assert choice.message.content == text
    assert choice.finish_reason == "stop"
    assert completion.model == "command-a-03-2025"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (71, 418)
    within(shape(completion), openai_answer("openai/response_text.json"))
    (sent,) = native.received("cohere")
    assert sent["body"] == {**load("cohere/request_text.json"), "model": "command-a-03-2025"}
    assert sent["headers"]["authorization"] == f"Bearer {COHERE_KEY}"


def test_cohere_parallel_tool_round_trip(client: openai.OpenAI, native: NativeFake):
    native.play("cohere", "cohere/recorded_response_tool_call.json", "cohere/response_text.json")
    recorded = load("cohere/recorded_response_tool_call.json")["message"]
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
        for name in ("weather", "cityAttractions")
    ]
    question = {"role": "user", "content": "Weather and attractions in San Francisco?"}
    first = client.chat.completions.create(model=COMMAND, messages=[question], tools=tools)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.model_dump() for c in message.tool_calls or []] == recorded["tool_calls"]
    # Cohere's plan is the answer's reasoning, under the name DeepSeek and vLLM use.
    assert (message.model_extra or {})["reasoning_content"] == recorded["tool_plan"]
    results = [
        {"role": "tool", "tool_call_id": c.id, "content": f'{{"n": {i}}}'}
        for i, c in enumerate(message.tool_calls or [])
    ]
    second = client.chat.completions.create(
        model=COMMAND, messages=[question, message, *results], tools=tools
    )
    assert second.choices[0].finish_reason == "stop"
    _, sent = native.received("cohere")
    assistant, *tool_messages = sent["body"]["messages"][1:]
    assert assistant["tool_calls"] == recorded["tool_calls"]
    assert assistant["tool_plan"] == recorded["tool_plan"]
    assert tool_messages == results


def test_cohere_stream_of_a_plan_and_two_tool_calls(client: openai.OpenAI, native: NativeFake):
    native.play("cohere", "cohere/stream_tool_call.sse")
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
        for name in ("query_daily_sales_report", "query_product_catalog")
    ]
    with client.chat.completions.stream(
        model=COMMAND,
        messages=[{"role": "user", "content": "Sales on 2023-09-29, and electronics?"}],
        tools=tools,
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    calls = [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []
    ]
    assert calls == STREAM_TOOL["cohere"][1].tool_calls
    assert (message.model_extra or {})["reasoning_content"].startswith("I will use the query_daily")
    assert final.usage is not None and final.usage.total_tokens == 1589 + 135


def test_cohere_stream_of_text_without_usage(client: openai.OpenAI, native: NativeFake):
    native.play("cohere", "cohere/stream_text.sse")
    chunks = list(
        client.chat.completions.create(
            model=COMMAND, messages=[{"role": "user", "content": "Tell me about LLMs"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("LLMs stand for Large Language Models")
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_models_include_what_anthropic_and_cohere_list(client: openai.OpenAI):
    ids = {model.id for model in client.models.list()}
    assert {"anthropic/claude-sonnet-4-20250514", "cohere/command-a-03-2025"} <= ids
    assert "cohere/embed-v4.0" not in ids


def test_a_refused_request_is_a_clear_400(client: openai.OpenAI, native: NativeFake):
    with pytest.raises(openai.BadRequestError, match="n=1"):
        client.chat.completions.create(
            model=CLAUDE, n=2, messages=[{"role": "user", "content": "Hello"}]
        )
    assert native.received("anthropic") == []
