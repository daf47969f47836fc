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


HI = b'"messages": [{"role": "user", "content": "hi"}]'


def with_field(field: bytes) -> bytes:
    return b'{"model": "groq/m", ' + HI + b", " + field + b"}"


# Each bad body and the whole 400 it gets (message, param), pinned: the parse path is tuned
# for speed (issue 17), and a faster path that says something else, or less, is a bug.
@pytest.mark.parametrize(
    ("raw", "message", "param"),
    [
        (
            b"",
            "The body is not valid JSON: Input is a zero-length, empty document: "
            "line 1 column 1 (char 0).",
            None,
        ),
        (
            b'{"model": "x",}',
            "The body is not valid JSON: trailing comma is not allowed: "
            "line 1 column 14 (char 13).",
            None,
        ),
        (b"null", "The body must be a JSON object.", None),
        (
            b'\xef\xbb\xbf{"model": "x"}',
            "The body is not valid JSON: UTF-8 byte order mark "
            "(BOM) is not supported: line 1 column 1 (char 0).",
            None,
        ),
        (
            b'{"model": "caf\xe9"}',
            "The body is not valid JSON: str is not valid UTF-8: "
            "surrogates not allowed: line 1 column 1 (char 0).",
            None,
        ),
        (
            b'{"model": "\\ud800"}',
            "The body is not valid JSON: no low surrogate in string: line 1 column 12 (char 11).",
            None,
        ),
        (
            with_field(b'"temperature": NaN'),
            "The body is not valid JSON: unexpected character,"
            " expected a JSON value: line 1 column 85 (char 84).",
            None,
        ),
        (
            with_field(b'"max_tokens": 1' + b"0" * 400),
            "The body is not valid JSON: number is "
            "infinity when parsed as double: line 1 column 84 (char 83).",
            None,
        ),
        (
            with_field(b'"max_tokens": 1000000000000000000000000000000'),
            "Invalid 'max_tokens': Input should be a valid integer.",
            "max_tokens",
        ),
        (
            with_field(b'"max_tokens": 5.0'),
            "Invalid 'max_tokens': Input should be a valid integer.",
            "max_tokens",
        ),
        (with_field(b'"n": true'), "Invalid 'n': Input should be a valid integer.", "n"),
        (
            with_field(b'"stream": "yes"'),
            "Invalid 'stream': Input should be a valid boolean.",
            "stream",
        ),
        # The first problem, in the order of the fields, whatever else is wrong.
        (
            b'{"model": 1, "messages": 5, "stream": "x"}',
            "Invalid 'model': Input should be a valid string.",
            "model",
        ),
    ],
)
def test_each_bad_body_gets_its_exact_400(raw: bytes, message: str, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(raw)
    assert (caught.value.status, caught.value.message, caught.value.param) == (400, message, param)


NOT_PRINTABLE = "must be printable ASCII without spaces or control characters"


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        # The last of duplicate keys is the one read, as by every JSON reader the providers use.
        (b'"groq/m", "model": "a b"', NOT_PRINTABLE),
        (b'"mod\xc3\xa8le"', NOT_PRINTABLE),
        (b'"a\\n"', NOT_PRINTABLE),
        (b'""', "String should have at least 1 character"),
        (b'"' + b"m" * 257 + b'"', "String should have at most 256 characters"),
    ],
)
def test_a_model_id_that_could_not_go_back_in_a_header_is_a_400(model: bytes, problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(b'{"model": ' + model + b", " + HI + b"}")
    assert (caught.value.message, caught.value.param) == (f"Invalid 'model': {problem}.", "model")


def test_duplicate_keys_keep_the_last_in_the_body_forwarded() -> None:
    call = parse_chat(b'{"model": "a b", "model": "groq/m", ' + HI + b"}")
    assert call.request.model == call.body["model"] == "groq/m"
