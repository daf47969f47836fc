"""JSON depth: what is read can be written again, by the gateway and by its native adapters."""

from __future__ import annotations

import orjson
import pytest

from llm_agg.agent.loop import _signature
from llm_agg.api.errors import InvalidRequest
from llm_agg.api.validation import MAX_DEPTH, json_object, within_depth
from llm_agg.providers.native import parse_arguments


def nested(levels: int) -> object:
    value: object = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_the_bound_is_exact() -> None:
    assert within_depth(nested(MAX_DEPTH))
    assert not within_depth(nested(MAX_DEPTH + 1))
    assert not within_depth(orjson.loads(b"[" * 1024 + b"]" * 1024))


def test_each_check_stands_alone_whatever_came_before() -> None:
    # The lists that wrap a value are built once and reused: a failed check must leave
    # nothing in them for the next, and each limit has its own.
    assert not within_depth(nested(MAX_DEPTH + 1))
    assert within_depth({"a": nested(MAX_DEPTH - 1)})
    assert not within_depth({"a": nested(MAX_DEPTH)})
    assert within_depth(nested(10), limit=10)
    assert not within_depth(nested(11), limit=10)
    assert within_depth(nested(MAX_DEPTH))


def test_tool_arguments_too_deep_for_a_native_provider_are_the_clients_fault() -> None:
    deep = '{"a":' + "[" * 300 + "]" * 300 + "}"
    with pytest.raises(InvalidRequest, match="deeper"):
        parse_arguments(deep)
    assert parse_arguments('{"a": [[1]]}') == {"a": [[1]]}


def test_the_agent_compares_deep_tool_calls_without_failing() -> None:
    deep = "[" * 600 + "]" * 600
    assert _signature("read_file", deep, "r") == _signature("read_file", deep, "r")


def body(levels: int, padding: int = 0) -> bytes:
    """A JSON object ``levels`` deep (itself the first), ``padding`` bytes of string in it."""
    inner = b"[" * (levels - 1) + b"]" * (levels - 1)
    return b'{"pad": "' + b"x" * padding + b'", "a": ' + inner + b"}"


@pytest.mark.parametrize("padding", [0, 2000])  # counted (small), and written (large)
def test_a_body_is_held_to_the_bound_exactly_small_or_large(padding: int) -> None:
    assert json_object(body(MAX_DEPTH, padding))["pad"] == "x" * padding
    with pytest.raises(InvalidRequest, match="deeper than 128"):
        json_object(body(MAX_DEPTH + 1, padding))


def test_brackets_in_strings_only_make_a_small_body_checked_in_full() -> None:
    raw = b'{"a": "' + b"[{" * 200 + b'", "b": [[1]]}'
    assert json_object(raw)["b"] == [[1]]
