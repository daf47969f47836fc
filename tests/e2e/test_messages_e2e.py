"""The official anthropic SDK against a real ``llm-agg serve``: OpenAI-format providers played
by the fake upstream, Anthropic itself by the native fake replaying its recorded streams."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.e2e.harness import (
    ROOT,
    FakeUpstream,
    NativeFake,
    Process,
    start_gateway,
    start_native_fake,
)

pytestmark = pytest.mark.e2e

ANTHROPIC_KEY = "sk-ant-e2e-messages-0001"
HI: Any = [{"role": "user", "content": "hi"}]
WEATHER: Any = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
BASE = {
    "id": "chatcmpl-e2e",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "fake-model",
}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {**BASE, "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def call(index: int, id: str | None = None, name: str | None = None, args: str = "") -> Any:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id:
        fragment |= {"id": id, "type": "function"}
        fragment["function"]["name"] = name
    return chunk({"tool_calls": [fragment]})


USAGE = {**BASE, "choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 9}}


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeFake]:
    fake = start_native_fake(tmp_path_factory.mktemp("messages-native"))
    yield fake
    fake.process.stop()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream, native: NativeFake
) -> Iterator[Process]:
    env = {
        **fake.provider_env("messages"),
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": f"{native.url}/anthropic",
        "LLM_AGG_CONFIG": str(ROOT / "tests/e2e/messages_providers.yaml"),
    }
    process = start_gateway(tmp_path_factory.mktemp("messages-gateway"), env)
    yield process
    process.stop()


@pytest.fixture
def sdk(gateway: Process, fake: FakeUpstream, native: NativeFake) -> Iterator[anthropic.Anthropic]:
    native.reset()
    with anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0) as client:
        yield client
    assert ANTHROPIC_KEY not in gateway.output(), "a key reached the log"


def sent(fake: FakeUpstream) -> dict[str, Any]:
    body: dict[str, Any] = fake.received()[-1]["body"]
    return body


def test_create_answers_a_message_named_by_the_gateway_headers(
    sdk: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    raw = sdk.messages.with_raw_response.create(
        model="claude-sonnet-4-5-20250929", max_tokens=12000, messages=HI
    )
    answer = raw.parse()
    assert raw.headers["x-llm-agg-provider"] == "groq"
    assert answer.content[0].type == "text" and answer.content[0].text == "Hello from groq: hi"
    assert answer.stop_reason == "end_turn"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (11, 7)
    assert sent(fake)["max_tokens"] == 8192  # the model's output limit, not a 400


def test_a_stream_reads_in_the_sdk_as_text_and_a_final_message(
    sdk: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    with sdk.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip() == "Hello from groq: hi"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7
    assert sent(fake)["stream_options"] == {"include_usage": True}


def test_a_tool_round_trip(sdk: anthropic.Anthropic, fake: FakeUpstream) -> None:
    with sdk.messages.stream(
        model="claude-opus-4-1", max_tokens=100, messages=HI, tools=WEATHER
    ) as stream:
        first = stream.get_final_message()
    (use,) = first.content
    assert use.type == "tool_use" and use.input == {"city": "Paris"}
    assert first.stop_reason == "tool_use"
    result: Any = {"type": "tool_result", "tool_use_id": use.id, "content": "18C, sunny"}
    follow = [*HI, first.to_param(), {"role": "user", "content": [result]}]
    answer = sdk.messages.create(
        model="claude-opus-4-1", max_tokens=100, messages=follow, tools=WEATHER
    )
    assert answer.content[0].type == "text" and answer.stop_reason == "end_turn"
    messages = sent(fake)["messages"]
    assert messages[1]["tool_calls"][0]["id"] == use.id
    assert messages[2] == {"role": "tool", "tool_call_id": use.id, "content": "18C, sunny"}


@pytest.mark.parametrize(
    "pieces",
    [
        ['{"ci', 'ty"', ': "Pa', "ris", '"}'],  # many pieces after the naming chunk
        [],  # whole, in the chunk that names the tool
    ],
)
def test_tool_arguments_many_pieces_or_whole_complete_in_the_sdk(
    sdk: anthropic.Anthropic, fake: FakeUpstream, pieces: list[str]
) -> None:
    opening = call(0, "call_w", "get_weather", "" if pieces else '{"city": "Paris"}')
    chunks = [opening, *(call(0, args=p) for p in pieces), chunk(None, "tool_calls"), USAGE]
    fake.queue("groq", {"chunks": chunks})
    seen: list[str] = []
    with sdk.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=HI, tools=WEATHER
    ) as stream:
        for event in stream:
            if event.type == "input_json":
                seen.append(event.partial_json)
        final = stream.get_final_message()
    assert seen == (pieces or ['{"city": "Paris"}'])
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Paris"}


def test_parallel_tool_calls_are_separate_tool_use_blocks(
    sdk: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    chunks = [
        chunk({"role": "assistant", "content": None}),
        call(0, "call_p", "get_weather", '{"city":'),
        call(0, args=' "Paris"}'),
        call(1, "call_r", "get_weather", '{"city": "Rome"}'),
        chunk(None, "tool_calls"),
        USAGE,
    ]
    fake.queue("groq", {"chunks": chunks})
    with sdk.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=HI, tools=WEATHER
    ) as stream:
        final = stream.get_final_message()
    assert [(b.type, getattr(b, "id", None)) for b in final.content] == [
        ("tool_use", "call_p"),
        ("tool_use", "call_r"),
    ]
    assert [getattr(b, "input", None) for b in final.content] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]


def test_an_image_reaches_the_provider_as_a_data_url(
    sdk: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    content: Any = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "What is this?"},
    ]
    sdk.messages.create(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": content}]
    )
    parts = sent(fake)["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


def test_a_client_leaving_mid_stream_cancels_the_upstream_request(
    sdk: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    fake.queue("groq", {"delay": 0.5})
    with sdk.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=HI) as stream:
        next(iter(stream))  # message_start arrived; then the client goes away
    deadline = time.monotonic() + 5
    while fake.disconnects() == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fake.disconnects() == 1


def test_errors_raise_the_sdks_own_exceptions(
    sdk: anthropic.Anthropic, fake: FakeUpstream, gateway: Process
) -> None:
    fake.queue("groq", {"status": 400, "body": {"error": {"message": "bad", "type": "x"}}})
    with pytest.raises(anthropic.BadRequestError):
        sdk.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HI)
    web: Any = [{"type": "web_search_20250305", "name": "web_search"}]
    with pytest.raises(anthropic.BadRequestError, match="web_search_20250305"):
        sdk.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HI, tools=web)
    stranger = anthropic.Anthropic(base_url=gateway.url, api_key="sk-llmagg-nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        stranger.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HI)
    fake.queue("groq", {"break_after": 3})
    with (
        pytest.raises(anthropic.APIStatusError, match="stream before it was complete"),
        sdk.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=HI) as stream,
    ):
        stream.get_final_message()
    # Last: both accounts then cool down (for a second) until the reset they announced.
    limited = {"status": 429, "headers": {"retry-after": "1"}}
    fake.queue("groq", limited)
    fake.queue("cerebras", limited)
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HI)
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_anthropic_itself_is_passed_the_request_and_relays_its_stream(
    sdk: anthropic.Anthropic, native: NativeFake
) -> None:
    native.play("anthropic", "anthropic/stream_tool_use.sse", "anthropic/response_end_turn.json")
    with sdk.messages.stream(
        model="anthropic/claude-haiku-4-5",
        max_tokens=100,
        messages=HI,
        tools=WEATHER,
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
    ) as stream:
        final = stream.get_final_message()
        assert stream.response.headers["x-llm-agg-provider"] == "anthropic"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    answer = sdk.messages.create(model="anthropic/claude-haiku-4-5", max_tokens=10, messages=HI)
    assert answer.stop_reason == "end_turn"
    first, second = native.received("anthropic")
    assert first["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert first["body"]["model"] == "claude-haiku-4-5"
    assert first["body"]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["body"]["tools"] == WEATHER and first["body"]["stream"] is True
    assert second["body"] == {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": HI}


def test_count_tokens_is_the_gateways_estimate(sdk: anthropic.Anthropic) -> None:
    counted = sdk.messages.count_tokens(model="claude-sonnet-4-5", messages=HI, tools=WEATHER)
    assert counted.input_tokens > 0
