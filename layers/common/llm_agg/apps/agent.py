"""``POST /v1/agents/code/invoke`` and ``POST /v1/agents/resume``: the coding agent."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from llm_agg.agent.config import AgentConfig
from llm_agg.agent.service import AgentService
from llm_agg.api.agent import CodeAgentRequest, ResumeAgentRequest, parse_body
from llm_agg.api.errors import GatewayError
from llm_agg.apps.base import new_app
from llm_agg.settings import Settings
from llm_agg.store.base import CheckpointStore

OPEN_OWNER = "-"  # the owner of threads on a server without gateway keys


def owner_of(request: Request) -> str:
    """The gateway key id the authentication put on the request, or the open-server owner."""
    key_id = getattr(request.state, "gateway_key_id", None)
    return key_id if isinstance(key_id, str) and key_id else OPEN_OWNER


async def read_json_body(request: Request, limit: int) -> bytes:
    # JSON only: a browser page cannot send that cross-origin without a preflight this server
    # never grants, so no web page can drive a local agent that writes files.
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise GatewayError(
            "Send the body as JSON with 'Content-Type: application/json'.",
            status=415,
            type="invalid_request_error",
            code="unsupported_media_type",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise GatewayError(
                "The request body is too large.", status=413, type="invalid_request_error"
            )
    return bytes(body)


def _json(data: object) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def create_agent_app(
    settings: Settings,
    checkpoints: Callable[[], CheckpointStore],
    config: AgentConfig | None = None,
) -> FastAPI:
    """``checkpoints`` opens the store on the first request (imports and connections stay off
    the cold start)."""
    app = new_app("llm-agg agent")
    made: list[AgentService] = []

    def service() -> AgentService:
        if not made:
            made.append(
                AgentService(
                    settings, config or AgentConfig.from_env(settings.environ), checkpoints()
                )
            )
        return made[0]

    @app.post("/v1/agents/code/invoke")
    async def invoke(request: Request) -> Response:
        raw = await read_json_body(request, settings.max_body_bytes)
        body = parse_body(raw, CodeAgentRequest)
        return _json(await service().invoke(body, owner_of(request)))

    @app.post("/v1/agents/resume")
    async def resume(request: Request) -> Response:
        raw = await read_json_body(request, settings.max_body_bytes)
        body = parse_body(raw, ResumeAgentRequest)
        return _json(await service().resume(body, owner_of(request)))

    return app
