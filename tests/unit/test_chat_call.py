"""``chat_call``: a chat body built inside the gateway (Messages, Responses) is validated as a
client's would be by ``parse_chat``, without being written out and read back."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llm_agg.api.chat import chat_call, parse_chat
from llm_agg.api.errors import InvalidRequest

BODY: dict[str, Any] = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
    ],
    "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "look"}},
    "response_format": {"type": "json_object"},
    "temperature": 0.5,
    "stream": True,
    "stream_options": {"include_usage": True},
    "model_quality": "fastest",
}


def test_a_built_body_reads_as_parse_chat_reads_its_json() -> None:
    built, parsed = chat_call(BODY), parse_chat(orjson.dumps(BODY))
    assert built.request == parsed.request
    assert built.body == parsed.body
    assert built.needs == parsed.needs
    assert (built.stream, built.include_usage) == (True, True)


def test_the_body_is_forwarded_as_built() -> None:
    assert chat_call(BODY).body is BODY


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 3},
        {"messages": []},
        {"tools": [{"type": "function", "function": {"name": "x" * 65}}]},
        {"messages": [{"role": "robot", "content": "hi"}]},
    ],
)
def test_what_parse_chat_refuses_is_refused_with_the_same_error(change: dict[str, Any]) -> None:
    body = {**BODY, **change}
    with pytest.raises(InvalidRequest) as built:
        chat_call(body)
    with pytest.raises(InvalidRequest) as parsed:
        parse_chat(orjson.dumps(body))
    assert built.value.status == 400
    assert (built.value.message, built.value.param) == (parsed.value.message, parsed.value.param)
