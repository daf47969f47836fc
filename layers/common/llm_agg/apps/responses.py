"""``POST /v1/responses``, ``GET``/``DELETE /v1/responses/{id}`` and ``GET
/v1/responses/{id}/input_items``, on the chat function's app.

A Responses request is translated to a chat call and dispatched exactly as chat is (routing,
quota, failover, usage, ``x-llm-agg-*`` headers, auth); the answer is translated back.

Codex CLI may first try a WebSocket on ``/v1/responses``. It is refused with HTTP 426 Upgrade
Required, the one answer Codex treats as "this server speaks HTTP": it falls back to POST at
once instead of retrying the socket. A server without a WebSocket library (the default
install) sees the handshake as a plain GET; one with a library sees a WebSocket and refuses it
with the same 426 through ASGI's denial response.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket

from llm_agg.api.errors import GatewayError, InvalidRequest
from llm_agg.api.responses import parse_responses
from llm_agg.api.validation import json_object
from llm_agg.apps.auth import ANONYMOUS, client_auth
from llm_agg.apps.base import Endpoint, error_response, read_json_body
from llm_agg.apps.budget import hold_for, within_hold
from llm_agg.dispatch import SSE_HEADERS, Dispatcher, EventStream
from llm_agg.responses.kept import DAY, DEFAULT_TTL, Kept, Record, unavailable
from llm_agg.responses.listing import page
from llm_agg.responses.output import from_completion, new_id, shell
from llm_agg.responses.relay import relay
from llm_agg.responses.request import to_chat
from llm_agg.responses.stream import ResponsesStream
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg.store.base import StoreError


def upgrade_refused() -> GatewayError:
    return GatewayError(
        "WebSocket transport is not served here; send the request as HTTP POST /v1/responses.",
        status=426,
        type="invalid_request_error",
        code="upgrade_required",
    )


def _ttl(settings: Settings) -> float:
    days = settings.environ.get("LLM_AGG_RESPONSES_TTL_DAYS", "")
    try:
        return float(days) * DAY if days else DEFAULT_TTL
    except ValueError:
        return DEFAULT_TTL


def _json(value: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), media_type="application/json", headers=headers)


def responses_endpoints(runtime: Runtime) -> dict[str, Endpoint]:
    """The endpoints of ``/v1/responses`` and its sub-paths (routed in ``apps/chat.py``)."""
    settings = runtime.settings
    authenticate = client_auth(runtime)
    ttl = _ttl(settings)

    async def kept(runtime: Runtime) -> Kept:
        try:
            backend = await runtime.stored.open()
        except StoreError:
            raise unavailable() from None
        return Kept(backend.stores.responses, ttl, runtime.clock)

    async def owner(request: Request) -> str:
        await authenticate(request)
        return str(getattr(request.state, "gateway_key_id", None) or ANONYMOUS)

    async def create(request: Request) -> Response:
        caller = await owner(request)
        body = json_object(await read_json_body(request, settings.max_body_bytes))
        wanted = parse_responses(body)
        store = await kept(runtime) if wanted.stored or wanted.previous_response_id else None
        history: list[dict[str, Any]] = []
        if wanted.previous_response_id and store is not None:
            history = (await store.previous(wanted.previous_response_id, caller)).history
        translation = to_chat(wanted, body, history)
        if wanted.stored and store is not None:
            store.check_size(translation.items)
        response = shell(wanted, new_id("resp"), runtime.clock(), wanted.model)
        call = translation.call
        targets = await runtime.router.route(call)  # refreshes the stored accounts first
        release = await hold_for(runtime, request, call)  # the key's tokens_per_day
        dispatcher = Dispatcher(runtime)
        answer = await within_hold(
            release, lambda: dispatcher.send(call, targets, caller, request=request)
        )
        headers = {k: v for k, v in answer.headers.items() if k.startswith("x-llm-agg-")}

        async def keep(finished: dict[str, Any]) -> None:
            if wanted.stored and store is not None:
                await store.keep(Record(translation.items, finished), caller)

        if isinstance(answer, StreamingResponse):
            stream = ResponsesStream(response, translation.custom_tools)
            return EventStream(
                relay(answer.body_iterator, stream, keep),
                headers={**SSE_HEADERS, **headers},
            )
        result = from_completion(orjson.loads(answer.body), response, translation.custom_tools)
        await keep(result)
        return _json(result, headers)

    async def read(request: Request) -> Response:
        caller = await owner(request)
        store = await kept(runtime)
        record = await store.get(request.path_params["response_id"], caller)
        return _json(record.response)

    async def input_items(request: Request) -> Response:
        caller = await owner(request)
        store = await kept(runtime)
        record = await store.get(request.path_params["response_id"], caller)
        query = request.query_params
        limit = query.get("limit", "20")
        if not limit.isdigit():
            raise InvalidRequest("'limit' is a number between 1 and 100.", param="limit")
        return _json(page(record.items, query.get("order", "desc"), query.get("after"), int(limit)))

    async def delete(request: Request) -> Response:
        caller = await owner(request)
        response_id = request.path_params["response_id"]
        await (await kept(runtime)).delete(response_id, caller)
        return _json({"id": response_id, "object": "response", "deleted": True})

    async def upgrade(request: Request) -> Response:
        if request.headers.get("upgrade", "").lower() == "websocket":
            return error_response(upgrade_refused())
        return error_response(
            GatewayError(
                "Use POST /v1/responses to create a response, or GET /v1/responses/{id}.",
                status=405,
                type="invalid_request_error",
                code="method_not_allowed",
            )
        )

    async def websocket(socket: WebSocket) -> None:
        refused = upgrade_refused()
        if "websocket.http.response" in socket.scope.get("extensions", {}):
            await socket.send_denial_response(error_response(refused))
        else:
            await socket.close(code=1008, reason=refused.message[:120])

    return {
        "create": create,
        "upgrade": upgrade,
        "read": read,
        "delete": delete,
        "input_items": input_items,
        "websocket": websocket,
    }
