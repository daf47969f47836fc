"""The frame writer under both native stream translators (Anthropic, Cohere).

A translator reads the provider's events (parsed by ``providers.sse``) and answers with OpenAI
chunk frames. This base holds what they share:

- the role chunk is held back until there is something to say, so an error event that comes
  before any content leaves the translator with no frame, and the dispatcher fails over;
- a stream ends with the usage chunk (when the client asked) and ``[DONE]``, or with one error
  event and nothing after it; a stream that just stops is an error, never a clean end.
"""

from __future__ import annotations

from typing import Any

import orjson

from llm_agg.api.errors import UpstreamFailed
from llm_agg.providers.base import Usage
from llm_agg.providers.native import usage_dict
from llm_agg.providers.sse import SSEEvent

DONE = b"data: [DONE]\n\n"

# Native error types → OpenAI's, for errors that arrive inside a stream.
_ERROR_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "rate_limit_error": "rate_limit_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
}


class NativeStream:
    __slots__ = (
        "_include_usage",
        "_role_sent",
        "cached",
        "created",
        "done",
        "error",
        "id",
        "model",
        "provider",
        "usage",
    )

    def __init__(self, provider: str, model: str, created: int, include_usage: bool) -> None:
        self.provider = provider
        self.id = "chatcmpl-"
        self.model = model
        self.created = created
        self._include_usage = include_usage
        self._role_sent = False
        self.done = False
        self.usage: Usage | None = None
        self.cached = 0
        self.error: str | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        if event.data == b"[DONE]":
            # A terminator before the provider's own end event: the answer is cut short.
            return self.fail(f"{self.provider} ended the stream before the answer was complete")
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return self.fail(f"{self.provider} sent a malformed stream event")
        if not isinstance(data, dict):
            return self.fail(f"{self.provider} sent a malformed stream event")
        kind = data.get("type")
        return self.on_event(kind if isinstance(kind, str) else event.event or "", data)

    def on_event(self, kind: str, data: dict[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        return self.fail(f"{self.provider} closed the stream before it was complete")

    # Frames -----------------------------------------------------------------------------

    def _frame(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _choice(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._frame([choice])

    def delta(self, delta: dict[str, Any]) -> list[bytes]:
        """Frames for one delta, preceded by the role chunk the first time. As at OpenAI, the
        role comes with ``content: ""`` before text, with ``content: null`` on a tool call."""
        if self._role_sent:
            return [self._choice(delta)]
        self._role_sent = True
        if "content" in delta:
            return [self._choice({"role": "assistant", "content": ""}), self._choice(delta)]
        return [self._choice({"role": "assistant", "content": None, **delta})]

    def finish_reason(self, reason: str) -> list[bytes]:
        frames = [] if self._role_sent else [self._choice({"role": "assistant", "content": ""})]
        self._role_sent = True
        return [*frames, self._choice({}, reason)]

    def end(self) -> list[bytes]:
        """The usage chunk when the client asked for it, then ``[DONE]``."""
        self.done = True
        if self._include_usage and self.usage is not None:
            usage = usage_dict(self.usage, self.cached)
            return [self._frame([], usage=usage), DONE]
        return [DONE]

    def fail(self, message: str, kind: str | None = None) -> list[bytes]:
        self.error = message
        error_type = _ERROR_TYPES.get(kind or "", "server_error")
        code = kind or "upstream_stream_error"
        return [UpstreamFailed(message, code=code, type=error_type).sse()]
