"""The adapter for every OpenAI-compatible provider, driven by its ``ProviderSpec``.

Bytes are relayed: the request body goes out as the client sent it (less what the provider
cannot take), answers come back unchanged unless the provider deviates from OpenAI (Together's
``eos``, usage on the finish chunk, Groq's ``x_groq.error``). Only chunks that may carry usage,
an error or a finish reason to rename are parsed at all.
"""

from __future__ import annotations

from typing import Any

import orjson

from llm_agg.api.chat import GATEWAY_FIELDS, ChatCall
from llm_agg.api.errors import UpstreamFailed
from llm_agg.api.wire import check_headers
from llm_agg.memo import IdMemo
from llm_agg.providers.accounts import Account
from llm_agg.providers.base import (
    Completion,
    MalformedResponse,
    Target,
    UpstreamRequest,
    Usage,
    usage_from,
)
from llm_agg.providers.scrub import account_secrets, scrub
from llm_agg.providers.sse import SSEEvent

DONE = b"data: [DONE]\n\n"


def build_request(call: ChatCall, target: Target) -> UpstreamRequest:
    # Comprehensions, properties and helpers only where there is something to do: each is a
    # frame of its own on Python 3.11, and on a cold vCPU every distinct piece of code run
    # before a stream's first byte costs several times its warm price (issue 17).
    spec = target.spec
    body = call.body.copy()
    if not GATEWAY_FIELDS.isdisjoint(body) or not spec.drop.isdisjoint(body):
        for name in [k for k in body if k in GATEWAY_FIELDS or k in spec.drop]:
            del body[name]
    fields = spec.drop_message_fields
    if fields:
        for message in body["messages"]:
            if isinstance(message, dict) and not fields.isdisjoint(message):
                body["messages"] = _without(body["messages"], fields)
                break
    body["model"] = target.model
    if call.request.stream:
        # Always ask for usage: the gateway counts tokens even when the client does not.
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    if (
        spec.default_max_tokens
        and body.get("max_tokens") is None
        and body.get("max_completion_tokens") is None
    ):
        body["max_completion_tokens"] = spec.default_max_tokens
    if spec.rewrite is not None:
        body = spec.rewrite(body)
    where = _WHERE_TO.get((id(spec), id(target.account)))
    if where is None:
        where = _where_to(target)
    url, headers = where
    return UpstreamRequest(url, dict(headers), orjson.dumps(body), checked=True, origin=where)


def _without(messages: list[Any], fields: frozenset[str]) -> list[Any]:
    """The messages without ``fields``: a message copied only when it has one of them (the
    same body, without a new dict for every message of a long conversation)."""
    return [
        {k: v for k, v in message.items() if k not in fields}
        if isinstance(message, dict) and not fields.isdisjoint(message)
        else message
        for message in messages
    ]


# The URL and headers of a target's requests, by its spec's and account's ids; both are frozen,
# so these are the same on each of its requests (~4 µs of calls less before each stream's first
# byte, run cold). Bounded: emptied when full.
_WHERE_TO: IdMemo[tuple[int, int], tuple[str, dict[str, str]]] = IdMemo(256)


def _where_to(target: Target) -> tuple[str, dict[str, str]]:
    """The chat URL and the headers of ``target``'s requests (a dict to copy, not to change),
    worked out, checked (``check_headers``: the request is ``checked``, and dispatch's
    look-up of the set by value, ~8 µs of a cold worker's CPU, is not made) and remembered in
    ``_WHERE_TO`` (``build_request`` looks there first). Headers that cannot be sent raise
    here, every time: never remembered."""
    spec, account = target.spec, target.account
    headers = {
        "content-type": "application/json",
        **spec.headers_for(account.api_key),
        **account.headers,
    }
    check_headers(headers)
    return _WHERE_TO.keep((id(spec), id(account)), (spec.chat_url, headers), spec, account)


def _rename_finish(choices: Any, renames: dict[str, str] | Any) -> bool:
    changed = False
    for choice in choices if isinstance(choices, list) else ():
        reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        if isinstance(reason, str) and reason in renames:
            choice["finish_reason"] = renames[reason]
            changed = True
    return changed


def _first_finish(choices: Any) -> str | None:
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
            return str(choice["finish_reason"])
    return None


def _tools_not_stop(choices: Any, called: bool = False) -> bool:
    """Answers that call tools (``called``: earlier in the stream) but say "stop", as Gemini
    does, say "tool_calls", as OpenAI does."""
    changed = False
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict) or choice.get("finish_reason") != "stop":
            continue
        message = choice.get("message")
        if called or (isinstance(message, dict) and message.get("tool_calls")):
            choice["finish_reason"] = "tool_calls"
            changed = True
    return changed


class OpenAICompatAdapter:
    def __init__(
        self, finish_reasons: dict[str, str] | None = None, tool_stop: bool = False
    ) -> None:
        self._renames = finish_reasons or {}
        self._tool_stop = tool_stop

    # The module's function itself, not a method calling it: one call less a request.
    build_request = staticmethod(build_request)

    def parse_response(self, body: bytes, call: ChatCall, target: Target) -> Completion:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponse(f"answer is not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise MalformedResponse("answer has no choices")
        renamed = bool(self._renames) and _rename_finish(data["choices"], self._renames)
        if (self._tool_stop and _tools_not_stop(data["choices"])) or renamed:
            body = orjson.dumps(data)
        return Completion(body, usage_from(data.get("usage")), _first_finish(data["choices"]))

    def stream_translator(self, call: ChatCall, target: Target) -> StreamRelay:
        return StreamRelay(call.include_usage, self._renames, self._tool_stop, target.account)


class StreamRelay:
    """Relays an OpenAI-style stream, fixing only what a provider does differently.

    - usage: always requested upstream; kept from the client unless it asked, and given as
      OpenAI's separate ``choices: []`` chunk even where the provider puts it on the finish chunk;
    - errors (``{"error": ...}``, OpenRouter's error chunks, Groq's ``x_groq.error``) become one
      OpenAI error event, and nothing after it is sent;
    - a stream that ends without ``[DONE]`` ends with an error event, never a clean end.

    Given the ``account`` it relays for, it takes that account's secrets out of its error (the
    upstream's words) and the error event itself (``scrubbed``: dispatch then relays it
    without ``scrub.ScrubbedStream``'s layer around every event, run cold before every
    stream's first byte and at each chunk after). The secrets are worked out only when an
    error appears.
    """

    __slots__ = (
        "_account",
        "_include_usage",
        "_renames",
        "_sent_usage",
        "_tail",
        "_tool_stop",
        "_tools_seen",
        "done",
        "error",
        "scrubbed",
        "usage",
    )

    def __init__(
        self,
        include_usage: bool,
        finish_reasons: dict[str, str] | None = None,
        tool_stop: bool = False,
        account: Account | None = None,
    ) -> None:
        self._account = account
        self.scrubbed = account is not None
        self._include_usage = include_usage
        self._renames = finish_reasons or {}
        self._tool_stop = tool_stop  # a provider that finishes tool calls with "stop"
        self._tools_seen = False
        self._sent_usage = False
        self._tail: dict[str, Any] = {}
        self.usage: Usage | None = None
        self.error: str | None = None
        self.done = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        data = event.data
        if data == b"[DONE]":
            self.done = True
            return [*self._usage_chunk(), DONE]
        if self._tool_stop and b'"tool_calls"' in data:
            self._tools_seen = True
        if not (
            b'"usage"' in data
            or b'"error"' in data
            or b'"x_groq"' in data
            or ((self._renames or self._tools_seen) and b'"finish_reason"' in data)
        ):
            return [b"data: " + data + b"\n\n"]
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._fail("the provider sent a malformed stream event")
        if not isinstance(chunk, dict):
            return self._fail("the provider sent a malformed stream event")
        return self._inspect(chunk, data)

    def _inspect(self, chunk: dict[str, Any], data: bytes) -> list[bytes]:
        error = chunk.get("error")
        groq = chunk.get("x_groq")
        if error is None and isinstance(groq, dict):
            error = groq.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else error
            return self._fail(str(message or "the provider reported an error mid-stream"))
        self._tail = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
        usage = usage_from(chunk.get("usage"))
        choices = chunk.get("choices")
        if usage is not None:
            self.usage = usage
            if choices == []:
                if not self._include_usage:
                    return []
                self._sent_usage = True
                return [b"data: " + data + b"\n\n"]
        changed = bool(self._renames) and _rename_finish(choices, self._renames)
        if self._tools_seen:
            changed = _tools_not_stop(choices, called=True) or changed
        if "usage" in chunk:
            # Usage rides on content chunks at Groq and Together: OpenAI sends it apart.
            del chunk["usage"]
            changed = True
        return [b"data: " + (orjson.dumps(chunk) if changed else data) + b"\n\n"]

    def _usage_chunk(self) -> list[bytes]:
        if not self._include_usage or self._sent_usage or self.usage is None:
            return []
        self._sent_usage = True
        u = self.usage
        chunk = {
            **self._tail,
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
            },
        }
        return [b"data: " + orjson.dumps(chunk) + b"\n\n"]

    def _fail(self, message: str) -> list[bytes]:
        if self._account is not None:
            message = scrub(message, account_secrets(self._account))
        self.error = message
        return [UpstreamFailed(message, code="upstream_stream_error").sse()]

    def finish(self) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        return self._fail("the provider closed the stream before it was complete")
