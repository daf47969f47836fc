from __future__ import annotations

import pytest

from llm_agg.api.chat import parse_chat
from llm_agg.api.errors import InvalidRequest


def test_a_valid_body_keeps_unknown_fields_for_the_upstream() -> None:
    call = parse_chat(
        b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "top_k": 5}'
    )
    assert call.body["top_k"] == 5
    assert call.request.model == "auto"
    assert not call.stream


@pytest.mark.parametrize(
    ("raw", "param", "fragment"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model", "Missing"),
        (b'{"model": "auto", "messages": []}', "messages", "at least 1"),
        (
            b'{"model": "auto", "messages": [{"role": "robot", "content": "x"}]}',
            "messages.0.role",
            "",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "temperature": 3}',
            "temperature",
            "less than or equal to 2",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "n": 0}',
            "n",
            "",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "x"}],'
            b' "model_quality": "cheapest"}',
            "model_quality",
            "",
        ),
    ],
)
def test_bad_bodies_say_what_is_wrong_and_where(
    raw: bytes, param: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(raw)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert fragment in caught.value.message


def test_needs_are_read_from_content() -> None:
    call = parse_chat(
        b'{"model": "auto", "response_format": {"type": "json_object"},'
        b' "tools": [{"type": "function", "function": {"name": "f"}}],'
        b' "messages": [{"role": "user", "content": [{"type": "text", "text": "look"},'
        b' {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]}'
    )
    assert (call.needs.tools, call.needs.vision, call.needs.json) == (True, True, True)
