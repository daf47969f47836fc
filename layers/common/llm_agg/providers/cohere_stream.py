"""Cohere v2's stream events → OpenAI chunks.

``message-start`` → ``tool-plan-delta``* / (``content-start`` → ``content-delta``* →
``content-end``)* / (``tool-call-start`` → ``tool-call-delta``* → ``tool-call-end``)* →
``message-end`` (finish reason, usage, maybe an error), then an optional ``[DONE]``. Cohere's
tool-call index is already OpenAI's. Citations and debug events have no OpenAI counterpart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_agg.providers.base import Usage
from llm_agg.providers.native import count
from llm_agg.providers.native_stream import NativeStream

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
FAILED = frozenset({"ERROR", "TIMEOUT"})


def finish_reason(value: Any) -> str:
    return FINISH_REASONS.get(value, "stop") if isinstance(value, str) else "stop"


def tool_arguments(value: Any) -> str:
    """A tool without parameters comes back with ``"null"`` (or nothing): OpenAI sends "{}"."""
    return "{}" if value in (None, "", "null") else str(value)


def usage_of(data: Any) -> tuple[Usage | None, int]:
    """(usage, cached tokens). ``tokens`` counts what the model read and wrote (with Cohere's
    own preamble); ``billed_units`` only what is billed. Read the first, else the second."""
    if not isinstance(data, dict):
        return None, 0
    for key in ("tokens", "billed_units"):
        counts = data.get(key)
        if isinstance(counts, dict) and "output_tokens" in counts:
            usage = Usage(count(counts.get("input_tokens")), count(counts.get("output_tokens")))
            return usage, count(data.get("cached_tokens"))
    return None, 0


def _message(data: dict[str, Any]) -> dict[str, Any]:
    delta = data.get("delta")
    message = delta.get("message") if isinstance(delta, dict) else None
    return message if isinstance(message, dict) else {}


def _part(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class CohereStream(NativeStream):
    __slots__ = ("_tools",)

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        super().__init__("cohere", model, created, include_usage)
        self._tools: dict[int, bool] = {}  # tool index → arguments seen

    def on_event(self, kind: str, data: dict[str, Any]) -> list[bytes]:
        handler = _HANDLERS.get(kind)
        return handler(self, data) if handler is not None else []  # citations, debug

    def _message_start(self, data: dict[str, Any]) -> list[bytes]:
        self.id = f"chatcmpl-{data.get('id', '')}"
        return []

    def _content(self, data: dict[str, Any]) -> list[bytes]:
        content = _part(_message(data).get("content"))
        if content.get("thinking"):
            return self.delta({"reasoning_content": content["thinking"]})
        if content.get("text"):
            return self.delta({"content": content["text"]})
        return []

    def _tool_plan(self, data: dict[str, Any]) -> list[bytes]:
        plan = _message(data).get("tool_plan")
        return self.delta({"reasoning_content": plan}) if plan else []

    def _tool_start(self, data: dict[str, Any]) -> list[bytes]:
        call = _part(_message(data).get("tool_calls"))
        function = _part(call.get("function"))
        index = count(data.get("index"))
        arguments = str(function.get("arguments") or "")
        self._tools[index] = bool(arguments)
        start = {
            "index": index,
            "id": call.get("id"),
            "type": "function",
            "function": {"name": function.get("name"), "arguments": arguments},
        }
        return self.delta({"tool_calls": [start]})

    def _arguments(self, index: int, fragment: str) -> list[bytes]:
        if index not in self._tools or not fragment:
            return []
        self._tools[index] = True
        return self.delta({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    def _tool_delta(self, data: dict[str, Any]) -> list[bytes]:
        function = _part(_part(_message(data).get("tool_calls")).get("function"))
        return self._arguments(count(data.get("index")), str(function.get("arguments") or ""))

    def _tool_end(self, data: dict[str, Any]) -> list[bytes]:
        index = count(data.get("index"))
        if self._tools.get(index) is False:
            return self._arguments(index, "{}")
        return []

    def _message_end(self, data: dict[str, Any]) -> list[bytes]:
        delta = _part(data.get("delta"))
        usage, cached = usage_of(delta.get("usage"))
        if usage is not None:
            self.usage, self.cached = usage, cached
        reason = delta.get("finish_reason")
        error = delta.get("error")
        if error or reason in FAILED:
            return self.fail(str(error or f"cohere ended the answer with {reason}"))
        return [*self.finish_reason(finish_reason(reason)), *self.end()]


_HANDLERS: dict[str, Callable[[CohereStream, dict[str, Any]], list[bytes]]] = {
    "message-start": CohereStream._message_start,
    "content-start": CohereStream._content,
    "content-delta": CohereStream._content,
    "tool-plan-delta": CohereStream._tool_plan,
    "tool-call-start": CohereStream._tool_start,
    "tool-call-delta": CohereStream._tool_delta,
    "tool-call-end": CohereStream._tool_end,
    "message-end": CohereStream._message_end,
}
