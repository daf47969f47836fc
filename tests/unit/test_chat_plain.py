"""The plain chat request's own path (``api/chat.py``'s ``_plain``) next to the validator's.

``parse_chat`` builds the plain body most clients send without pydantic's validator (issue 17:
cheaper on a cold vCPU). That is only right if it accepts nothing the validator refuses and
builds exactly what the validator builds; everything else, every 400 included, stays the
validator's. These tests hold both on hand-picked bodies and on many seeded variations of them.
"""

from __future__ import annotations

import random
from dataclasses import fields
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ValidationError

from llm_agg.api.chat import (
    _PLAIN_IDS,
    _VALIDATE,
    ChatCall,
    ChatRequest,
    Message,
    _plain,
    parse_chat,
)
from llm_agg.api.errors import InvalidRequest
from llm_agg.api.validation import invalid_request
from llm_agg.routing.classify import measure

USER = {"role": "user", "content": "Say hi."}

PLAIN: list[dict[str, Any]] = [
    {"model": "auto", "messages": [USER]},
    {"model": "groq/llama-3.3-70b-versatile", "messages": [USER], "stream": True},
    {"model": "m", "messages": [USER], "stream": False, "max_tokens": 64},
    {"model": "m", "messages": [USER], "max_completion_tokens": 1, "temperature": 0.0},
    {"temperature": 2.0, "messages": [USER], "model": "x" * 256, "max_tokens": 2**70},
    {"model": "m", "messages": [USER], "temperature": -0.0},
    {
        "model": "openrouter/meta-llama/llama-3.3-70b-instruct:free",
        "messages": [
            {"role": role, "content": f"{role} says ☃ \n\t \\u0000"}
            for role in ("system", "developer", "user", "assistant", "tool", "function")
        ],
    },
    {"model": "m", "messages": [{"content": "", "role": "assistant"}] * 16},
    {"model": "!~", "messages": [USER], "stream": True, "max_tokens": 1},
    {"model": "m", "messages": [USER], "temperature": 1},  # an int: made a float
    {"model": "m", "messages": [USER], "stream_options": {"include_usage": True}},
    {"model": "m", "messages": [USER], "stream_options": {"include_usage": None}},
    {"model": "m", "messages": [USER], "stream_options": {}},
    # What the openai SDK sends when a client sets these (its field order).
    {
        "messages": [{"role": "system", "content": "Be brief."}, USER],
        "model": "groq/llama-3.3-70b-versatile",
        "frequency_penalty": 0,
        "max_tokens": 64,
        "n": 1,
        "presence_penalty": -2,
        "seed": 2**70,
        "stream": True,
        "stream_options": {"include_usage": False},
        "temperature": 0.7,
        "top_p": 1,
        "user": "user-1 ☃",
    },
    {"model": "m", "messages": [USER], "top_p": 0.0, "n": 128, "frequency_penalty": 2.0},
]

# Valid, but not the plain shape: the validator builds them.
VALID_NOT_PLAIN: list[dict[str, Any]] = [
    {"model": "m", "messages": [USER], "top_k": 5},  # an extra field
    {"model": "m", "messages": [USER], "stream": None},
    {"model": "m", "messages": [USER], "stream_options": {"include_usage": True, "x": 1}},
    {"model": "m", "messages": [USER], "stop": "\n"},
    {"model": "m", "messages": [USER], "seed": None},
    {"model": "m", "messages": [USER], "provider": "groq"},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
    {"model": "m", "messages": [{"role": "user", "content": "x", "name": "me"}]},
    {"model": "m", "messages": [{"role": "assistant", "content": None}]},
    {"model": "m", "messages": [{"role": "user"}]},
    {"model": "m", "messages": [USER] * 17},
]

BAD: list[dict[str, Any]] = [
    {"messages": [USER]},
    {"model": "m"},
    {"model": "m", "messages": []},
    {"model": "", "messages": [USER]},
    {"model": "x" * 257, "messages": [USER]},
    {"model": "a b", "messages": [USER]},
    {"model": "a\x7f", "messages": [USER]},
    {"model": "a\n", "messages": [USER]},
    {"model": "modèle", "messages": [USER]},
    {"model": 1, "messages": [USER]},
    {"model": None, "messages": [USER]},
    {"model": "m", "messages": USER},
    {"model": "m", "messages": [USER, "hi"]},
    {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
    {"model": "m", "messages": [{"role": ["user"], "content": "x"}]},
    {"model": "m", "messages": [{"role": "user", "content": 5}]},
    {"model": "m", "messages": [USER], "stream": "yes"},
    {"model": "m", "messages": [USER], "stream": 1},
    {"model": "m", "messages": [USER], "max_tokens": 0},
    {"model": "m", "messages": [USER], "max_tokens": -3},
    {"model": "m", "messages": [USER], "max_tokens": True},
    {"model": "m", "messages": [USER], "max_tokens": 5.0},
    {"model": "m", "messages": [USER], "max_tokens": 1e30},
    {"model": "m", "messages": [USER], "max_completion_tokens": "64"},
    {"model": "m", "messages": [USER], "temperature": 2.5},
    {"model": "m", "messages": [USER], "temperature": -0.1},
    {"model": "m", "messages": [USER], "temperature": float("nan")},
    {"model": "m", "messages": [USER], "temperature": float("inf")},
    {"model": "m", "messages": [USER], "temperature": True},
    {"model": "m", "messages": [USER], "n": 0},
    {"model": "m", "messages": [USER], "n": 129},
    {"model": "m", "messages": [USER], "n": 2.0},
    {"model": "m", "messages": [USER], "top_p": 1.5},
    {"model": "m", "messages": [USER], "top_p": 2},
    {"model": "m", "messages": [USER], "temperature": 3},
    {"model": "m", "messages": [USER], "temperature": 2**62},
    {"model": "m", "messages": [USER], "presence_penalty": -3},
    {"model": "m", "messages": [USER], "frequency_penalty": False},
    {"model": "m", "messages": [USER], "stream_options": True},
    {"model": "m", "messages": [USER], "stream_options": {"include_usage": "yes"}},
    {"model": "m", "messages": [USER], "stream_options": {"include_usage": 1}},
    {"model": "m", "messages": [USER], "seed": 1.0},
    {"model": "m", "messages": [USER], "seed": True},
    {"model": "m", "messages": [USER], "user": 5},
    {"model": "m", "messages": [USER], "model_quality": "cheapest"},
]


def validated(body: dict[str, Any]) -> ChatRequest | None:
    try:
        return _VALIDATE(body)
    except ValidationError:
        return None


def same(made: Any, expected: Any) -> None:
    """``made`` is ``expected`` in every observable way: values, their types, the fields set,
    the extra and private attributes, recursively."""
    assert type(made) is type(expected)
    if isinstance(expected, BaseModel):
        assert list(made.__dict__) == list(expected.__dict__)
        assert made.__pydantic_fields_set__ == expected.__pydantic_fields_set__
        assert made.__pydantic_extra__ == expected.__pydantic_extra__
        assert made.__pydantic_private__ == expected.__pydantic_private__
        for name, value in expected.__dict__.items():
            same(made.__dict__[name], value)
    elif isinstance(expected, list):
        assert len(made) == len(expected)
        for one, other in zip(made, expected, strict=True):
            same(one, other)
    else:
        assert made == expected or (made != made and expected != expected)


def agrees(body: dict[str, Any]) -> bool:
    """Whether the plain path answers ``body`` as the validator does, and measures it as
    ``classify.measure`` measures the validator's request; True when it took it."""
    plain = _plain(body)
    if plain is None:
        return False
    made, measured = plain
    expected = validated(body)
    assert expected is not None, f"the plain path took a body the validator refuses: {body!r}"
    assert measured == measure(ChatCall(body, expected))
    same(made, expected)
    assert made == expected
    assert made.model_dump() == expected.model_dump()
    assert made.model_dump_json() == expected.model_dump_json()
    return True


@pytest.mark.parametrize("body", PLAIN)
def test_a_plain_body_is_built_as_the_validator_builds_it(body: dict[str, Any]) -> None:
    assert agrees(body)


@pytest.mark.parametrize("body", VALID_NOT_PLAIN)
def test_a_valid_body_of_another_shape_is_left_to_the_validator(body: dict[str, Any]) -> None:
    assert _plain(body) is None
    assert validated(body) is not None


@pytest.mark.parametrize("body", BAD)
def test_a_bad_body_gets_the_validators_400_word_for_word(body: dict[str, Any]) -> None:
    assert _plain(body) is None
    with pytest.raises(ValidationError) as refused:
        _VALIDATE(body)
    raw = orjson.dumps(body)
    if orjson.loads(raw) != body:  # NaN and infinity: no JSON body carries them
        return
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(raw)
    expected = invalid_request(refused.value)
    assert (caught.value.status, caught.value.message, caught.value.param) == (
        expected.status,
        expected.message,
        expected.param,
    )


# Values of every JSON kind, and the edges of the plain path's checks.
ODD: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    3,
    64,
    2**63,
    0.0,
    -0.0,
    0.5,
    1.0,
    2.0,
    2.0000001,
    -1e-9,
    1e300,
    "",
    " ",
    "m",
    "a b",
    "user",
    "assistant",
    "robot",
    "x" * 256,
    "x" * 257,
    "é",
    "\x7f",
    [],
    [USER],
    {},
    USER,
    {"role": "user"},
    {"role": "user", "content": None},
    {"role": "user", "content": "x", "name": "n"},
    {"include_usage": True},
    {"include_usage": None},
    {"include_usage": "x"},
    {"include_usage": False, "x": 1},
    -2,
    -3,
    128,
    129,
    -2.0,
    1.5,
]
KEYS = [
    "model",
    "messages",
    "stream",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "user",
    "top_k",
    "stream_options",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "stop",
]


def test_seeded_variations_never_part_the_two_paths() -> None:
    rng = random.Random(17)
    took = 0
    for _ in range(4000):
        body: dict[str, Any] = dict(rng.choice(PLAIN))
        for _ in range(rng.randint(1, 3)):
            place = rng.random()
            if place < 0.5:
                body[rng.choice(KEYS)] = rng.choice(ODD)
            elif place < 0.6:
                body.pop(rng.choice(KEYS), None)
            else:
                kept = body.get("messages")
                messages = [dict(m) for m in kept if type(m) is dict] if type(kept) is list else []
                messages = messages or [dict(USER)]
                message = rng.choice(messages)
                message[rng.choice(["role", "content", "name"])] = rng.choice(ODD)
                if rng.random() < 0.2:
                    message.pop(rng.choice(["role", "content"]), None)
                body["messages"] = messages
        took += agrees(body)
    assert 100 < took < 3900  # both kinds were tried, many times each


def test_the_plain_path_builds_its_own_objects() -> None:
    body = {"model": "m", "messages": [USER], "stream_options": {"include_usage": True}}
    one, other = _plain(body), _plain(body)
    assert one is not None and other is not None
    first, second = one[0], other[0]
    first.messages[0].content = "changed"
    first.__pydantic_fields_set__.add("stream")
    assert first.stream_options is not None and second.stream_options is not None
    first.stream_options.include_usage = False
    first.stream_options.__pydantic_fields_set__.clear()
    assert second.messages[0].content == "Say hi." and "stream" not in second.model_fields_set
    assert second.stream_options.include_usage is True
    assert second.stream_options.model_fields_set == {"include_usage"}
    assert isinstance(second.messages[0], Message)
    assert body["messages"][0] is USER and USER["content"] == "Say hi."
    assert body["stream_options"] == {"include_usage": True}  # the body forwarded is as sent


def test_an_int_is_made_a_float_in_the_request_never_in_the_body() -> None:
    body = {"model": "m", "messages": [USER], "temperature": 1, "top_p": 0}
    plain = _plain(body)
    assert plain is not None
    made = plain[0]
    assert (type(made.temperature), type(made.top_p)) == (float, float)
    assert body == {"model": "m", "messages": [USER], "temperature": 1, "top_p": 0}
    assert type(body["temperature"]) is int


@pytest.mark.parametrize("body", PLAIN[:4] + VALID_NOT_PLAIN[:3])
def test_parse_chat_makes_the_call_as_its_init_would(body: dict[str, Any]) -> None:
    """``parse_chat`` makes its ``ChatCall`` without the dataclass's ``__init__``: every field
    set, as ``ChatCall(body, request)`` sets it; a plain body measured already, as
    ``classify.measure`` would measure it, any other not yet."""
    call = parse_chat(orjson.dumps(body))
    made = ChatCall(call.body, call.request)
    assert call == made and call.body == body
    for f in fields(ChatCall):
        if f.name != "measured":
            assert getattr(call, f.name) is getattr(made, f.name)
    if _plain(body) is None:
        assert call.measured is None
    else:
        assert call.measured is not None and call.measured == measure(made)


@pytest.mark.parametrize("model", ["m", "groq/llama-3.3-70b-versatile", "x" * 256])
def test_a_model_id_remembered_is_taken_as_the_first_time(model: str) -> None:
    body = {"model": model, "messages": [USER]}
    assert agrees(body)
    assert model in _PLAIN_IDS
    assert agrees(body)  # the second time from the memory: built and measured the same


@pytest.mark.parametrize("model", ["a b", "x" * 257, "tab\there", "", "caf\u00e9", "nul\x00"])
def test_a_model_id_the_validator_must_judge_is_never_remembered(model: str) -> None:
    body = {"model": model, "messages": [USER]}
    for _ in range(2):
        assert _plain(body) is None
    assert model not in _PLAIN_IDS
