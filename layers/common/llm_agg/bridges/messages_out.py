"""OpenAI answers as Messages answers: a completion as a ``message``, a chunk stream as the
Messages events (``message_start``, ``content_block_start/delta/stop``, ``message_delta``,
``message_stop``, ``ping``, ``error``). Pure.

Stream rules: one content block open at a time, closed before the next starts, as Anthropic
sends them; a tool call's arguments go out as ``input_json_delta`` fragments the moment they
arrive, whether in many pieces or whole in the chunk that names the tool; parallel calls are
separate ``tool_use`` blocks. The upstream's reasoning (``reasoning_content``/``reasoning``)
becomes thinking blocks when the client asked for thinking. An error, or an end without
OpenAI's ``[DONE]``, ends the stream with an ``error`` event, never a clean ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from llm_agg.api.messages import error_event, stream_error
from llm_agg.providers.native import count, parse_arguments
from llm_agg.providers.sse import SSEEvent

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id(openai_id: Any) -> str:
    raw = openai_id if isinstance(openai_id, str) else ""
    return "msg_" + raw.removeprefix("chatcmpl-")


def stop_reason(
    finish: Any, called_tools: bool, matched: Any, stops: Sequence[str]
) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence). OpenAI does not say which stop sequence ended the text;
    vLLM-style servers do (``stop_reason`` on the choice), and then so do we."""
    if called_tools and finish in (None, "stop", "tool_calls", "function_call"):
        return "tool_use", None
    if finish == "stop" and isinstance(matched, str) and matched in stops:
        return "stop_sequence", matched
    return STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn", None


def usage(data: Any, input_estimate: int = 0) -> dict[str, int]:
    """Anthropic's usage: input tokens leave out those read from the cache."""
    data = data if isinstance(data, dict) else {}
    details = data.get("prompt_tokens_details")
    cached = count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    prompt = count(data["prompt_tokens"]) if "prompt_tokens" in data else input_estimate
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": count(data.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _arguments(value: Any) -> str:
    """Arguments as JSON text: a few providers send an object instead of a string."""
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return value if isinstance(value, str) else ""


def message(completion: bytes, thinks: bool, stops: Sequence[str]) -> bytes:
    """The ``message`` for an OpenAI ``chat.completion`` body."""
    data = orjson.loads(completion)
    choices = data.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    said: dict[str, Any] = choice["message"] if isinstance(choice.get("message"), dict) else {}
    content: list[dict[str, Any]] = []
    reasoning = said.get("reasoning_content") or said.get("reasoning")
    if thinks and isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if text := _text_of(said.get("content")):
        content.append({"type": "text", "text": text})
    for call in said.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{len(content)}",
                "name": function.get("name") or "",
                "input": parse_arguments(_arguments(function.get("arguments")) or "{}"),
            }
        )
    reason, sequence = stop_reason(
        choice.get("finish_reason"), bool(said.get("tool_calls")), choice.get("stop_reason"), stops
    )
    answer = {
        "id": message_id(data.get("id")),
        "type": "message",
        "role": "assistant",
        "model": data.get("model") or "",
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage(data.get("usage")),
    }
    return orjson.dumps(answer)


def event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class MessagesStream:
    """OpenAI chunk events, as the dispatcher relays them, in; Messages event frames out."""

    __slots__ = (
        "_finish",
        "_index",
        "_input",
        "_matched",
        "_open",
        "_started",
        "_stops",
        "_thinks",
        "_tool_open",
        "_tools",
        "_usage",
        "done",
        "error",
        "model",
    )

    def __init__(self, model: str, input_estimate: int, thinks: bool, stops: Sequence[str]):
        self.model = model  # until the first chunk names the model that answers
        self._input = input_estimate  # message_start's count, until the real one at the end
        self._thinks = thinks
        self._stops = stops
        self._started = False
        self._index = -1  # of the last block opened
        self._open: str | None = None  # kind of the open block: text, thinking, tool
        self._tools: dict[int, int] = {}  # OpenAI tool-call index → its block
        self._tool_open: int | None = None  # OpenAI index of the open tool block
        self._finish: Any = None
        self._matched: Any = None
        self._usage: Any = None
        self.done = False
        self.error: str | None = None

    def feed(self, sse: SSEEvent) -> list[bytes]:
        if self.done:
            return []
        if sse.data == b"[DONE]":
            return self._end()
        try:
            chunk = orjson.loads(sse.data)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            return self.fail({"message": "the provider sent a malformed stream event"})
        if "error" in chunk:
            return self.fail(chunk["error"])
        frames = [] if self._started else self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            frames += self._choice(choices[0])
        return frames

    def finish(self) -> list[bytes]:
        """Frames owed when the relayed stream ends: an error unless it ended properly."""
        if self.done:
            return []
        return self.fail({"message": "the provider's stream ended before it was complete"})

    def fail(self, error: Any) -> list[bytes]:
        self.done = True
        kind, self.error = stream_error(error)
        return [error_event(kind, self.error)]

    def _start(self, chunk: dict[str, Any]) -> list[bytes]:
        self._started = True
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        start: dict[str, Any] = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage({}, self._input),
        }
        return [
            event("message_start", {"type": "message_start", "message": start}),
            event("ping", {"type": "ping"}),
        ]

    def _choice(self, choice: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        delta = choice.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if self._thinks and isinstance(reasoning, str) and reasoning:
            frames += self._delta("thinking", {"type": "thinking_delta", "thinking": reasoning})
        content = delta.get("content")
        if isinstance(content, str) and content:
            frames += self._delta("text", {"type": "text_delta", "text": content})
        for call in delta.get("tool_calls") or ():
            if self.done:
                break
            if isinstance(call, dict):
                frames += self._tool(call)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
            self._matched = choice.get("stop_reason")
        return frames

    def _begin(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        frames = self._close()
        self._index += 1
        self._open = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return [*frames, event("content_block_start", start)]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        self._tool_open = None
        return [event("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _delta(self, kind: str, delta: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        if self._open != kind:
            empty = {"type": "text", "text": ""}
            if kind == "thinking":
                empty = {"type": "thinking", "thinking": "", "signature": ""}
            frames = self._begin(kind, empty)
        payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return [*frames, event("content_block_delta", payload)]

    def _tool(self, call: dict[str, Any]) -> list[bytes]:
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        index = call.get("index")
        if not isinstance(index, int):
            # Without an index: a fragment of the open call, or (with an id) a new one.
            index = self._tool_open if self._tool_open is not None and not call.get("id") else -1
            index = index if index >= 0 else len(self._tools) + 1_000_000
        frames: list[bytes] = []
        if index not in self._tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{self._index + 1}",
                "name": function.get("name") or "",
                "input": {},
            }
            frames = self._begin("tool", block)
            self._tools[index] = self._index
            self._tool_open = index
        elif self._tool_open != index:
            # Anthropic's blocks do not interleave: a late fragment of a closed call can no
            # longer be delivered, and an incomplete call must not look complete.
            return self.fail({"message": "the provider interleaved parallel tool calls"})
        if arguments := _arguments(function.get("arguments")):
            delta = {"type": "input_json_delta", "partial_json": arguments}
            payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
            frames.append(event("content_block_delta", payload))
        return frames

    def _end(self) -> list[bytes]:
        frames = [] if self._started else self._start({})
        frames += self._close()
        reason, sequence = stop_reason(self._finish, bool(self._tools), self._matched, self._stops)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        counted = usage(self._usage, self._input)
        self.done = True
        return [
            *frames,
            event("message_delta", {"type": "message_delta", "delta": delta, "usage": counted}),
            event("message_stop", {"type": "message_stop"}),
        ]
