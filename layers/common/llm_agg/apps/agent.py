"""``POST /v1/agents/code/invoke`` and ``POST /v1/agents/resume``: the coding agent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from llm_agg.agent.config import AgentConfig
from llm_agg.agent.service import AgentService
from llm_agg.api.agent import CodeAgentRequest, ResumeAgentRequest
from llm_agg.api.validation import parse_body
from llm_agg.apps.auth import client_auth, store_unavailable
from llm_agg.apps.base import new_app, read_json_body, route
from llm_agg.apps.budget import hold_tokens
from llm_agg.runtime import Runtime
from llm_agg.store.base import CheckpointStore, StoreError

CheckpointOpener = Callable[[], Awaitable[CheckpointStore]]


def _json(data: object) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def create_agent_app(
    runtime: Runtime,
    checkpoints: CheckpointOpener | None = None,
    config: AgentConfig | None = None,
) -> Starlette:
    """Threads live in the gateway's store (``checkpoints`` replaces it in tests), opened on
    the first request so the cold start pays for neither the store nor the agent."""
    settings = runtime.settings
    authenticate = client_auth(runtime)
    # A bad value fails the start; a keyed server runs no file tools unless roots are given.
    config = config or AgentConfig.from_env(settings.environ, keyed=settings.require_auth)
    made: list[AgentService] = []

    async def stored_checkpoints() -> CheckpointStore:
        backend = await runtime.stored.open()
        return backend.stores.checkpoints

    async def service() -> AgentService:
        if not made:
            store = await (checkpoints or stored_checkpoints)()
            made.append(AgentService(runtime, config, store))
        return made[0]

    async def run(request: Request, resume: bool) -> Response:
        client = await authenticate(request)
        raw = await read_json_body(request, settings.max_body_bytes)
        body: ResumeAgentRequest | CodeAgentRequest = (
            parse_body(raw, ResumeAgentRequest) if resume else parse_body(raw, CodeAgentRequest)
        )
        # A run may spend up to its token budget: that much of the key's day is held meanwhile.
        release = await hold_tokens(runtime, client.record, config.token_budget, 1)
        try:
            agent = await service()
            if isinstance(body, ResumeAgentRequest):
                answer = await agent.resume(body, client.key_id)
            else:
                answer = await agent.invoke(body, client.key_id)
        except StoreError:  # conflicts and oversize threads are GatewayErrors by now
            raise store_unavailable() from None
        finally:
            release()
        return _json(answer)

    async def invoke(request: Request) -> Response:
        return await run(request, resume=False)

    async def resume(request: Request) -> Response:
        return await run(request, resume=True)

    return new_app(
        runtime,
        [
            route("/v1/agents/code/invoke", invoke, "POST"),
            route("/v1/agents/resume", resume, "POST"),
        ],
    )
