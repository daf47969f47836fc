"""The official openai SDK against a real `llm-agg serve` and a fake upstream, both on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.harness import FakeUpstream, Process, start_gateway

pytestmark = pytest.mark.e2e
HI = [{"role": "user", "content": "hi"}]
WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def sdk(gateway: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused-on-loopback", max_retries=0)


@pytest.fixture
def own_gateway(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    """A gateway of its own, for tests that leave accounts cooling down."""
    process = start_gateway(e2e_tmp, fake.provider_env("own"))
    yield process
    process.stop()


def test_a_completion_comes_back_as_openai_would_give_it(
    gateway: Process, fake: FakeUpstream
) -> None:
    raw = sdk(gateway).chat.completions.with_raw_response.create(model="fake-model", messages=HI)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from groq: hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 18
    assert raw.headers["x-llm-agg-provider"] == "groq"
    assert raw.headers["x-llm-agg-model"] == "fake-model"
    assert raw.headers["x-llm-agg-attempts"] == "1"
    sent = fake.received()[-1]
    assert sent["headers"]["authorization"] == "Bearer gsk_e2e_test_key_0001"


def test_stream_chunks_arrive_before_the_upstream_has_finished(
    gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue("groq", {"delay": 0.4})  # 7 chunks, 0.4 s apart: the upstream takes ~2.8 s
    started = time.monotonic()
    arrivals: list[float] = []
    text = []
    stream = sdk(gateway).chat.completions.create(model="fake-model", messages=HI, stream=True)
    for chunk in stream:
        arrivals.append(time.monotonic() - started)
        text += [c.delta.content or "" for c in chunk.choices]
    assert "".join(text).strip() == "Hello from groq: hi"
    assert arrivals[0] < 1.0, arrivals
    assert arrivals[-1] > 2.0, arrivals
    assert arrivals[-1] - arrivals[1] > 1.5  # spread out, not buffered into one burst


def test_stream_usage_is_given_when_asked(gateway: Process) -> None:
    stream = sdk(gateway).chat.completions.create(
        model="fake-model", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 11


def test_tool_calls_are_parsed_by_the_sdk(gateway: Process) -> None:
    client = sdk(gateway)
    completion = client.chat.completions.create(model="fake-model", messages=HI, tools=WEATHER)  # type: ignore[arg-type]
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]

    stream = client.chat.completions.create(
        model="fake-model", messages=HI, tools=WEATHER, stream=True
    )  # type: ignore[arg-type]
    arguments = ""
    names = []
    for chunk in stream:
        for choice in chunk.choices:
            for delta_call in choice.delta.tool_calls or []:
                function = delta_call.function
                if function and function.name:
                    names.append(function.name)
                arguments += (function.arguments or "") if function else ""
    assert names == ["get_weather"] and json.loads(arguments) == {"city": "Paris"}


def test_json_mode_answers_json(gateway: Process) -> None:
    completion = sdk(gateway).chat.completions.create(
        model="fake-model", messages=HI, response_format={"type": "json_object"}
    )
    assert json.loads(completion.choices[0].message.content or "")["ok"] is True


def test_a_429_moves_to_the_next_provider_without_the_client_noticing(
    own_gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue(
        "groq",
        {
            "status": 429,
            "headers": {"retry-after": "60"},
            "body": {
                "error": {
                    "message": "rate limited",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            },
        },
    )
    raw = sdk(own_gateway).chat.completions.with_raw_response.create(
        model="fake-model", messages=HI
    )
    assert raw.parse().choices[0].message.content == "Hello from cerebras: hi"
    assert raw.headers["x-llm-agg-attempts"] == "2"
    # The cooled account is not tried again.
    again = sdk(own_gateway).chat.completions.with_raw_response.create(
        model="fake-model", messages=HI
    )
    assert again.headers["x-llm-agg-provider"] == "cerebras"
    assert again.headers["x-llm-agg-attempts"] == "1"


def test_every_error_status_raises_the_matching_sdk_exception(
    own_gateway: Process, fake: FakeUpstream, e2e_tmp: Path
) -> None:
    client = sdk(own_gateway)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fake-model", messages=[])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=HI)
    failing = {"status": 500, "body": {"error": {"message": "boom"}}}
    fake.queue("groq", failing)
    fake.queue("cerebras", failing)
    with pytest.raises(openai.InternalServerError) as bad_gateway:
        client.chat.completions.create(model="fake-model", messages=HI)
    assert bad_gateway.value.status_code == 502
    fake.queue("groq", {"sleep": 3})
    fake.queue("cerebras", {"sleep": 3})
    with pytest.raises(openai.InternalServerError) as timeout:
        client.chat.completions.create(model="fake-model", messages=HI)
    assert timeout.value.status_code == 504
    limited = {
        "status": 429,
        "headers": {"retry-after": "30"},
        "body": {"error": {"message": "slow"}},
    }
    fake.queue("groq", limited)
    fake.queue("cerebras", limited)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fake-model", messages=HI)
    bare = start_gateway(e2e_tmp, {})
    try:
        with pytest.raises(openai.InternalServerError) as unconfigured:
            sdk(bare).chat.completions.create(model="fake-model", messages=HI)
        assert unconfigured.value.status_code == 503
    finally:
        bare.stop()


def test_an_upstream_failure_mid_stream_raises_in_the_sdk(
    gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue("groq", {"break_after": 3})
    stream = sdk(gateway).chat.completions.create(model="fake-model", messages=HI, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_a_client_leaving_mid_stream_cancels_the_upstream_request(
    gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue("groq", {"delay": 0.5})
    body = {"model": "fake-model", "messages": HI, "stream": True}
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json=body, timeout=10
    ) as response:
        next(response.iter_raw())
    deadline = time.monotonic() + 5
    while fake.disconnects() == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fake.disconnects() == 1
