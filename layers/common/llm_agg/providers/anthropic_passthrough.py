"""A ``/v1/messages`` request served by Anthropic itself: the client's Messages body goes out
as written (the model id replaced by the target's) and Anthropic's answer comes back as it
came, events and all. No round trip through the OpenAI format, so nothing Anthropic offers
(cache_control, server tools, signed thinking, citations) is lost. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llm_agg.api.chat import ChatCall
from llm_agg.api.messages import GATEWAY_FIELDS, error_event
from llm_agg.providers.anthropic_stream import finish_reason, usage_of
from llm_agg.providers.base import Completion, MalformedResponse, Target, UpstreamRequest, Usage
from llm_agg.providers.native import loads_object
from llm_agg.providers.sse import SSEEvent

# Client headers that say which API version and betas the body is written for.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def _signed(block: Any) -> bool:
    """False for a thinking block another provider's reasoning became (it has no signature,
    and Anthropic refuses a conversation holding one)."""
    return not (isinstance(block, dict) and block.get("type") == "thinking") or bool(
        block.get("signature")
    )


def native_body(body: Mapping[str, Any], target: Target) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k not in GATEWAY_FIELDS}
    out["model"] = target.model
    limit, asked = target.max_output, out.get("max_tokens")
    if limit and isinstance(asked, int) and asked > limit and "thinking" not in out:
        out["max_tokens"] = limit  # as for chat: served up to the model's limit, not refused
    messages = out.get("messages")
    if isinstance(messages, list) and b'"signature":""' in orjson.dumps(messages):
        out["messages"] = [
            {**m, "content": [b for b in m["content"] if _signed(b)]}
            if isinstance(m, dict) and isinstance(m.get("content"), list)
            else m
            for m in messages
        ]
    return out


class AnthropicPassThrough:
    """The adapter of one Messages request whose target speaks the Messages API."""

    def __init__(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        self._body = body
        self._headers = {k: v for k in FORWARDED_HEADERS if (v := headers.get(k))}

    def build_request(self, call: ChatCall, target: Target) -> UpstreamRequest:
        # The client's own version and beta flags go with the provider's authentication.
        headers = {
            "content-type": "application/json",
            **target.spec.headers_for(target.account.api_key),
            **self._headers,
            **target.spec.headers,
            **target.account.headers,
        }
        url = target.spec.base_url.rstrip("/") + "/v1/messages"
        return UpstreamRequest(url, headers, orjson.dumps(native_body(self._body, target)))

    def parse_response(self, body: bytes, call: ChatCall, target: Target) -> Completion:
        data = loads_object(body, "anthropic")
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise MalformedResponse("anthropic answer is not a message")
        usage, _ = usage_of(data.get("usage"))
        return Completion(body, usage, finish_reason(data.get("stop_reason")))

    def stream_translator(self, call: ChatCall, target: Target) -> MessagesRelay:
        return MessagesRelay()


class MessagesRelay:
    """Relays Anthropic's events as they are, reading only usage and errors.

    ``message_start`` and ``ping`` are held until the first block or the end, so an error
    event before any content still lets the dispatcher try another target; a stream that
    stops before ``message_stop`` ends with an ``error`` event.
    """

    __slots__ = ("_held", "_usage", "done", "error", "usage")

    def __init__(self) -> None:
        self._held: list[bytes] | None = []
        self._usage: dict[str, Any] = {}
        self.usage: Usage | None = None
        self.error: str | None = None
        self.done = False

    def feed(self, sse: SSEEvent) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        name = sse.event or ""
        if name in ("message_start", "message_delta", "error"):
            try:
                data = orjson.loads(sse.data)
            except orjson.JSONDecodeError:
                data = None
            if not isinstance(data, dict):
                return self._fail("anthropic sent a malformed stream event")
            if name == "error":
                error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
                self.error = str(error.get("message") or "anthropic reported an error mid-stream")
            else:
                self._count(data)
        frame = b"event: " + name.encode() + b"\ndata: " + sse.data + b"\n\n"
        if name == "message_stop":
            self.done = True
        if self._held is not None and name in ("message_start", "ping"):
            self._held.append(frame)
            return []
        frames, self._held = [*(self._held or ()), frame], None
        return frames

    def _count(self, data: dict[str, Any]) -> None:
        usage = data.get("usage")
        message = data.get("message")
        if usage is None and isinstance(message, dict):
            usage = message.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)  # cumulative: the latest wins
            counted, _ = usage_of(self._usage)
            self.usage = counted or self.usage

    def _fail(self, message: str) -> list[bytes]:
        self.error = message
        return [error_event("api_error", message)]

    def finish(self) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        return self._fail("anthropic closed the stream before it was complete")
