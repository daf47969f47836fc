"""JSON depth: what is read can be written again, by the gateway and by its native adapters."""

from __future__ import annotations

import orjson
import pytest

from llm_agg.agent.loop import _signature
from llm_agg.api.errors import InvalidRequest
from llm_agg.api.validation import MAX_DEPTH, within_depth
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
