"""The chat function's app: ``POST /v1/chat/completions`` and ``GET /v1/models`` here;
``/v1/messages`` (``apps/messages.py``) and ``/v1/responses`` (``apps/responses.py``) routed
here too, their modules imported on their first request (``Deferred``)."""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from llm_agg.api.chat import parse_chat
from llm_agg.apps.auth import Authenticate, client_auth
from llm_agg.apps.base import Deferred, Endpoint, new_app, read_json_body, route
from llm_agg.apps.budget import hold_for, within_hold
from llm_agg.dispatch import Dispatcher
from llm_agg.providers.listing import ModelLister
from llm_agg.routing.model_objects import model_listing
from llm_agg.routing.select import AUTO
from llm_agg.runtime import Runtime

RESPONSES = "/v1/responses"
RESPONSE = RESPONSES + "/{response_id}"


def create_chat_app(runtime: Runtime) -> Starlette:
    settings = runtime.settings
    # Sets request.state.gateway_key_id (the key's id, "-" for none) for usage records.
    authenticate = client_auth(runtime)
    # Holds nothing of a request: one for all of them, not one made for each.
    dispatcher = Dispatcher(runtime)

    async def chat_completions(request: Request) -> Response:
        client = await authenticate(request)
        call = parse_chat(await read_json_body(request, settings.max_body_bytes))
        router = runtime.router
        # ``route`` refreshes the stored accounts first; a settled route needs no await.
        targets = router.settled(call) or await router.route(call)
        # The usual key has no tokens_per_day to hold: then no hold's coroutine, no wrapper
        # and no closure are made on the way to a stream's first byte (issue 17). The record
        # is read as ``hold_for`` reads it.
        record = request.scope.get("state", {}).get("gateway_key")
        if record is None or record.tokens_per_day is None:
            return await dispatcher.send(call, targets, client.key_id, request=request)
        release = await hold_for(runtime, request, call)  # the key's tokens_per_day
        return await within_hold(
            release, lambda: dispatcher.send(call, targets, client.key_id, request=request)
        )

    async def list_models(request: Request) -> Response:
        await authenticate(request)
        await runtime.stored.refresh()
        accounts = runtime.accounts()
        keys = {name: mine[0].api_key for name, mine in accounts.items()}
        listed = await runtime.discovery.listed(
            runtime.client, runtime.specs, runtime.adapters, keys
        )
        # Native providers are listed as they list themselves; the others as the router sees
        # them (the catalog, less what vanished from their lists, plus free models found).
        native = {
            n: m for n, m in listed.items() if isinstance(runtime.adapters.get(n), ModelLister)
        }
        data = [{"id": AUTO, "object": "model", "created": 0, "owned_by": "llm-agg"}]
        for entry in model_listing(runtime.view.models, accounts, native):
            provider, _, model = entry["id"].partition("/")
            entry["status"] = runtime.router.status_of(provider, model, accounts.get(provider, []))
            data.append(entry)
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    messages = Deferred(lambda: _messages(runtime, authenticate))
    responses = Deferred(lambda: _responses(runtime))
    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/messages", messages["create"], methods=["POST"]),
        Route("/v1/messages/count_tokens", messages["count_tokens"], methods=["POST"]),
        Route(RESPONSES, responses["create"], methods=["POST"]),
        Route(RESPONSES, responses["upgrade"], methods=["GET"]),
        Route(RESPONSE, responses["read"], methods=["GET"]),
        Route(RESPONSE, responses["delete"], methods=["DELETE"]),
        Route(RESPONSE + "/input_items", responses["input_items"], methods=["GET"]),
        WebSocketRoute(RESPONSES, responses["websocket"]),
        route("/v1/models", list_models, "GET"),
    ]
    return new_app(runtime, routes)


# Imported on the first request to their API: their pydantic models and translators are ~50 ms
# of a cold start that serves only chat.
def _messages(runtime: Runtime, authenticate: Authenticate) -> dict[str, Endpoint]:
    from llm_agg.apps.messages import messages_endpoints

    return messages_endpoints(runtime, authenticate)


def _responses(runtime: Runtime) -> dict[str, Endpoint]:
    from llm_agg.apps.responses import responses_endpoints

    return responses_endpoints(runtime)
