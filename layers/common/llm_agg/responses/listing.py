"""A kept response's input items as ``GET /v1/responses/{id}/input_items`` lists them.

Clients send items without ids and messages with plain string content; the listing gives
each item the shape OpenAI's does (an id, a status, content as parts), so the SDK's
``client.responses.input_items.list`` reads them. Ids are given when the items are kept, so
they are the same on every read and a page can start ``after`` one of them.
"""

from __future__ import annotations

from typing import Any

from llm_agg.api.errors import InvalidRequest
from llm_agg.responses.output import NewId, new_id, text_part

PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}
MAX_LIMIT = 100


def with_ids(items: list[dict[str, Any]], ids: NewId = new_id) -> list[dict[str, Any]]:
    """``items``, each with an id (those that came with one keep it)."""
    return [
        item if item.get("id") else {**item, "id": ids(PREFIXES.get(item.get("type", ""), "item"))}
        for item in items
    ]


def listed(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type", "message")
    out = {**item, "type": kind}
    if kind == "message":
        assistant = item.get("role") == "assistant"
        content = item.get("content")
        parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
        if assistant:  # an output message: its parts are output_text
            parts = [text_part(p.get("text") or p.get("refusal") or "") for p in parts or []]
        out["content"] = parts
    if kind == "reasoning":
        out.setdefault("summary", [])
    else:
        out.setdefault("status", "completed")
    return out


def page(items: list[dict[str, Any]], order: str, after: str | None, limit: int) -> dict[str, Any]:
    """One page of the listing, newest first unless ``order`` is ``asc``, as OpenAI pages."""
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' is 'asc' or 'desc'.", param="order")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' is between 1 and {MAX_LIMIT}.", param="limit")
    ordered = items if order == "asc" else items[::-1]
    if after is not None:
        position = next((i for i, item in enumerate(ordered) if item.get("id") == after), None)
        if position is None:
            raise InvalidRequest(f"No input item with id '{after}'.", param="after")
        ordered = ordered[position + 1 :]
    data = [listed(item) for item in ordered[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > limit,
    }
