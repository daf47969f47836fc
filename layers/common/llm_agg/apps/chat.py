"""``POST /v1/chat/completions`` and ``GET /v1/models``; ``/v1/messages`` and ``/v1/responses``
are added from ``apps/messages.py`` and ``apps/responses.py``."""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from llm_agg.api.chat import parse_chat
from llm_agg.apps.auth import client_auth
from llm_agg.apps.base import new_app, read_json_body, route
from llm_agg.apps.budget import hold_for, within_hold
from llm_agg.apps.messages import add_messages_routes
from llm_agg.apps.responses import add_responses_routes
from llm_agg.dispatch import Dispatcher
from llm_agg.providers.listing import ModelLister
from llm_agg.routing.model_objects import model_listing
from llm_agg.routing.select import AUTO
from llm_agg.runtime import Runtime


def create_chat_app(runtime: Runtime) -> Starlette:
    settings = runtime.settings
    app = new_app(runtime)
    # Sets request.state.gateway_key_id (the key's id, "-" for none) for usage records.
    authenticate = client_auth(runtime)

    async def chat_completions(request: Request) -> Response:
        client = await authenticate(request)
        call = parse_chat(await read_json_body(request, settings.max_body_bytes))
        targets = await runtime.router.route(call)  # refreshes the stored accounts first
        release = await hold_for(runtime, request, call)  # the key's tokens_per_day
        dispatcher = Dispatcher(runtime)
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

    app.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
    add_messages_routes(app, runtime, authenticate)
    add_responses_routes(app, runtime)
    app.router.routes.append(route("/v1/models", list_models, "GET"))
    return app
