"""A kept response's input items, listed as the openai SDK reads them."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import ResponseItem
from pydantic import TypeAdapter

from llm_agg.api.errors import InvalidRequest
from llm_agg.responses.listing import page, with_ids

ITEMS: list[dict[str, Any]] = [
    {"type": "message", "role": "developer", "content": "be brief"},
    {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
    {"type": "reasoning", "summary": []},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "On it."}],
    },
    {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "P"},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": "done"},
    {"id": "msg_kept", "type": "message", "role": "user", "content": "thanks"},
]
READ: TypeAdapter[list[ResponseItem]] = TypeAdapter(list[ResponseItem])


def test_every_kind_of_item_is_listed_in_the_sdk_shape_newest_first() -> None:
    items = with_ids(ITEMS)
    listed = page(items, "desc", None, 20)
    parsed = READ.validate_python(listed["data"])
    assert [item.type for item in parsed] == [item.get("type", "message") for item in ITEMS][::-1]
    assert parsed[0].id == "msg_kept"  # an id the client gave is kept
    assert len({item.id for item in parsed}) == len(ITEMS)
    assert listed["first_id"] == "msg_kept" and listed["has_more"] is False
    assert parsed[-1].content[0].text == "be brief"


def test_pages_follow_each_other_with_after() -> None:
    items = with_ids(ITEMS)
    first = page(items, "asc", None, 4)
    second = page(items, "asc", first["last_id"], 4)
    third = page(items, "asc", second["last_id"], 4)
    ids = [i["id"] for p in (first, second, third) for i in p["data"]]
    assert ids == [item["id"] for item in items]
    assert (first["has_more"], second["has_more"], third["has_more"]) == (True, True, False)


@pytest.mark.parametrize(
    ("order", "after", "limit", "param"),
    [("up", None, 20, "order"), ("asc", "nope", 20, "after"), ("asc", None, 0, "limit")],
)
def test_a_bad_page_request_is_a_400(order: str, after: str | None, limit: int, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        page(with_ids(ITEMS), order, after, limit)
    assert caught.value.param == param
