"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic's Messages API on
the chat function, served by the same routing, quota, failover, usage, headers and auth as
``/v1/chat/completions``.

The request becomes an OpenAI chat call (``bridges/messages_in.py``) that the dispatcher
serves; the answer comes back as a Messages answer (``bridges/messages_out.py``), except from
Anthropic itself, which is sent the client's body and answers in its own format. Every error
is Anthropic's ``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llm_agg.api.chat import chat_call
from llm_agg.api.errors import GatewayError, InvalidRequest
from llm_agg.api.messages import (
    MessagesRequest,
    error_body,
    error_event,
    parse_messages,
    stream_error,
)
from llm_agg.api.wire import header_value_ok
from llm_agg.apps.auth import Authenticate
from llm_agg.apps.base import Endpoint, read_json_body
from llm_agg.apps.budget import hold_for, within_hold
from llm_agg.bridges.messages_in import chat_body, resolve_model
from llm_agg.bridges.messages_out import MessagesStream, message
from llm_agg.bridges.messages_targets import messages_adapters, passes_through
from llm_agg.dispatch import Dispatcher
from llm_agg.providers.anthropic_passthrough import FORWARDED_HEADERS
from llm_agg.providers.sse import SSEParser
from llm_agg.routing.classify import estimate_tokens
from llm_agg.routing.select import split_model
from llm_agg.runtime import Runtime

log = logging.getLogger("llm_agg.apps")

_HEADER_PREFIX = "x-llm-agg-"


def anthropic_error(error: GatewayError) -> Response:
    return Response(
        error_body(error),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


def _native_only(request: MessagesRequest, runtime: Runtime) -> bool:
    """Whether the client forced a provider that speaks Messages itself (which can then take
    Anthropic's server tools)."""
    provider = (
        request.provider
        or split_model(resolve_model(request.model, runtime.view).model, runtime.specs)[0]
    )
    spec = runtime.specs.get(provider) if provider else None
    return spec is not None and passes_through(spec)


async def _translated(body: AsyncIterable[Any], stream: MessagesStream) -> AsyncIterator[bytes]:
    parser = SSEParser()
    try:
        async for chunk in body:
            frames = [f for e in parser.feed(_bytes(chunk)) for f in stream.feed(e)]
            if frames:
                yield b"".join(frames)
            if stream.done:
                return  # ended (or failed): the rest of the upstream is not needed
        tail = [f for e in parser.flush() for f in stream.feed(e)]
        if tail := [*tail, *stream.finish()]:
            yield b"".join(tail)
    finally:
        await _close(body)


async def _relayed(body: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    """Anthropic's own events; the dispatcher's error frame (a broken upstream) in its shape."""
    try:
        async for chunk in body:
            data = _bytes(chunk)
            if data.startswith(b'data: {"error"'):
                kind, text = stream_error(orjson.loads(data[6:]).get("error"))
                data = error_event(kind, text)
            yield data
    finally:
        await _close(body)


def _bytes(chunk: Any) -> bytes:
    return (
        chunk
        if isinstance(chunk, bytes)
        else bytes(chunk)
        if isinstance(chunk, memoryview)
        else str(chunk).encode()
    )


async def _close(body: AsyncIterable[Any]) -> None:
    # The dispatcher's relay closes the upstream and records usage when it is closed.
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


def forwarded_headers_ok(headers: Mapping[str, str]) -> None:
    """The client headers sent on to Anthropic, checked here: a 400 now, not a failed attempt."""
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value is not None and not header_value_ok(value):
            raise InvalidRequest(f"The {name} header must be printable ASCII.", param=name)


def messages_endpoints(runtime: Runtime, authenticate: Authenticate) -> dict[str, Endpoint]:
    """The endpoints of ``/v1/messages`` and ``/v1/messages/count_tokens`` (routed in
    ``apps/chat.py``)."""
    settings = runtime.settings

    async def create_message(request: Request) -> Response:
        try:
            await authenticate(request)
            body, parsed = parse_messages(await read_json_body(request, settings.max_body_bytes))
            native = _native_only(parsed, runtime)
            call = chat_call(chat_body(parsed, runtime.view, anthropic_only=native))
            forwarded_headers_ok(request.headers)
            adapters = messages_adapters(
                runtime.adapters, runtime.specs, runtime.view, body, request.headers
            )
            key_id = getattr(request.state, "gateway_key_id", None)
            dispatcher = Dispatcher(runtime, adapters)
            targets = await runtime.router.route(call)  # refreshes the stored accounts first
            release = await hold_for(runtime, request, call)  # the key's tokens_per_day
            response = await within_hold(
                release, lambda: dispatcher.send(call, targets, key_id, request=request)
            )
        except GatewayError as exc:
            return anthropic_error(exc)
        except Exception as exc:
            log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
            return anthropic_error(GatewayError("The gateway failed on this request."))
        served = runtime.specs[response.headers["x-llm-agg-provider"]]
        if isinstance(response, StreamingResponse):
            if passes_through(served):
                response.body_iterator = _relayed(response.body_iterator)
            else:
                stops = parsed.stop_sequences or []
                stream = MessagesStream(
                    call.body["model"], estimate_tokens(call), parsed.thinks, stops
                )
                response.body_iterator = _translated(response.body_iterator, stream)
            return response
        if passes_through(served):
            return response
        headers = {k: v for k, v in response.headers.items() if k.startswith(_HEADER_PREFIX)}
        answer = message(bytes(response.body), parsed.thinks, parsed.stop_sequences or [])
        return Response(answer, media_type="application/json", headers=headers)

    async def count_tokens(request: Request) -> Response:
        try:
            await authenticate(request)
            raw = await read_json_body(request, settings.max_body_bytes)
            _, parsed = parse_messages(raw, counting=True)
            call = chat_call(chat_body(parsed, runtime.view, counting=True))
        except GatewayError as exc:
            return anthropic_error(exc)
        count = orjson.dumps({"input_tokens": estimate_tokens(call)})
        return Response(count, media_type="application/json")

    return {"create": create_message, "count_tokens": count_tokens}
