"""Reads an OpenAI chat stream the way the OpenAI SDKs do, strictly, for assertions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llm_agg.providers.sse import SSEParser


@dataclass
class Collected:
    chunks: list[dict[str, Any]] = field(default_factory=list)
    role: str | None = None
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False
    error: dict[str, Any] | None = None


def _tool_fragment(calls: list[dict[str, Any]], fragment: dict[str, Any]) -> None:
    index = fragment["index"]
    function = fragment.get("function") or {}
    if index == len(calls):
        # A call opens with its id, type and name; arguments follow in pieces.
        assert fragment["id"] and fragment["type"] == "function" and function["name"]
        calls.append(
            {
                "id": fragment["id"],
                "type": "function",
                "function": {
                    "name": function["name"],
                    "arguments": function.get("arguments") or "",
                },
            }
        )
    else:
        assert index < len(calls), f"tool call index {index} skips ahead"
        calls[index]["function"]["arguments"] += function.get("arguments") or ""


def collect(body: bytes) -> Collected:
    parser = SSEParser()
    events = [*parser.feed(body), *parser.flush()]
    out = Collected()
    for event in events:
        assert not out.done, "an event came after [DONE]"
        assert out.error is None, "an event came after the error"
        if event.data == b"[DONE]":
            out.done = True
            continue
        chunk = json.loads(event.data)
        if "error" in chunk:
            out.error = chunk["error"]
            continue
        assert chunk["object"] == "chat.completion.chunk"
        out.chunks.append(chunk)
        if chunk["choices"] == [] and chunk.get("usage"):
            out.usage = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            out.role = delta.get("role") or out.role
            out.content += delta.get("content") or ""
            out.reasoning += delta.get("reasoning_content") or ""
            for fragment in delta.get("tool_calls") or ():
                _tool_fragment(out.tool_calls, fragment)
            if choice.get("finish_reason"):
                assert out.finish_reason is None, "two finish reasons"
                out.finish_reason = choice["finish_reason"]
    return out
