"""Anthropic's stream events → OpenAI chunks.

``message_start`` → (``content_block_start`` → ``content_block_delta``* → ``content_block_stop``)
per block → ``message_delta`` (stop reason, cumulative usage) → ``message_stop``; ``ping`` may
come anywhere, and an ``error`` event may come after the 200. Tool calls are numbered by their
own counter: Anthropic's block index counts text blocks too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_agg.providers.base import Usage
from llm_agg.providers.native import count
from llm_agg.providers.native_stream import NativeStream

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # a server tool paused the turn; the answer so far is complete
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_of(data: Any) -> tuple[Usage | None, int]:
    """(usage, cached tokens). Anthropic's input_tokens leave out the cached ones: add them."""
    if not isinstance(data, dict) or "output_tokens" not in data:
        return None, 0
    cached = count(data.get("cache_read_input_tokens"))
    prompt = count(data.get("input_tokens")) + cached
    prompt += count(data.get("cache_creation_input_tokens"))
    return Usage(prompt, count(data.get("output_tokens"))), cached


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class AnthropicStream(NativeStream):
    __slots__ = ("_finished", "_tools", "_usage")

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        super().__init__("anthropic", model, created, include_usage)
        self._tools: dict[int, list[Any]] = {}  # block index → [tool index, arguments seen]
        self._usage: dict[str, Any] = {}
        self._finished = False

    def on_event(self, kind: str, data: dict[str, Any]) -> list[bytes]:
        handler = _HANDLERS.get(kind)
        return handler(self, data) if handler is not None else []  # ping, and future events

    def _count(self, usage: Any) -> None:
        # Usage is cumulative, and message_delta may repeat input_tokens: the latest wins.
        self._usage.update(_dict(usage))
        counted, cached = usage_of(self._usage)
        if counted is not None:
            self.usage, self.cached = counted, cached

    def _message_start(self, data: dict[str, Any]) -> list[bytes]:
        message = _dict(data.get("message"))
        self.id = f"chatcmpl-{message.get('id', '')}"
        if isinstance(message.get("model"), str):
            self.model = message["model"]
        self._count(message.get("usage"))
        return []

    def _block_start(self, data: dict[str, Any]) -> list[bytes]:
        block = _dict(data.get("content_block"))
        kind = block.get("type")
        if kind == "tool_use":
            index = len(self._tools)
            self._tools[count(data.get("index"))] = [index, False]
            call = {
                "index": index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return self.delta({"tool_calls": [call]})
        if kind == "text" and block.get("text"):
            return self.delta({"content": block["text"]})
        if kind == "thinking" and block.get("thinking"):
            return self.delta({"reasoning_content": block["thinking"]})
        return []

    def _arguments(self, block_index: int, fragment: str) -> list[bytes]:
        tool = self._tools.get(block_index)
        if tool is None or not fragment:
            return []
        tool[1] = True
        return self.delta({"tool_calls": [{"index": tool[0], "function": {"arguments": fragment}}]})

    def _block_delta(self, data: dict[str, Any]) -> list[bytes]:
        delta = _dict(data.get("delta"))
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return self.delta({"content": delta["text"]})
        if kind == "input_json_delta":
            return self._arguments(count(data.get("index")), str(delta.get("partial_json") or ""))
        if kind == "thinking_delta" and delta.get("thinking"):
            return self.delta({"reasoning_content": delta["thinking"]})
        return []  # signature_delta, citations_delta

    def _block_stop(self, data: dict[str, Any]) -> list[bytes]:
        tool = self._tools.get(count(data.get("index")))
        if tool is not None and not tool[1]:
            # A tool without parameters streams no JSON at all: its arguments are "{}".
            return self._arguments(count(data.get("index")), "{}")
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[bytes]:
        self._count(data.get("usage"))
        reason = _dict(data.get("delta")).get("stop_reason")
        if reason is None or self._finished:
            return []
        self._finished = True
        return self.finish_reason(finish_reason(reason))

    def _message_stop(self, data: dict[str, Any]) -> list[bytes]:
        frames = [] if self._finished else self.finish_reason("stop")
        return [*frames, *self.end()]

    def _error(self, data: dict[str, Any]) -> list[bytes]:
        error = _dict(data.get("error"))
        message = str(error.get("message") or "anthropic reported an error mid-stream")
        kind = error.get("type")
        return self.fail(message, kind if isinstance(kind, str) else None)


_HANDLERS: dict[str, Callable[[AnthropicStream, dict[str, Any]], list[bytes]]] = {
    "message_start": AnthropicStream._message_start,
    "content_block_start": AnthropicStream._block_start,
    "content_block_delta": AnthropicStream._block_delta,
    "content_block_stop": AnthropicStream._block_stop,
    "message_delta": AnthropicStream._message_delta,
    "message_stop": AnthropicStream._message_stop,
    "error": AnthropicStream._error,
}
