"""A fake Anthropic and Cohere on loopback that plays recorded answers byte for byte.

``/anthropic/v1/messages`` and ``/cohere/v2/chat`` answer with the next scripted fixture;
``/anthropic/v1/models`` and ``/cohere/v1/models`` with the recorded model lists. So
``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT/anthropic`` and ``COHERE_BASE_URL=.../cohere``.

``POST /_control/{provider}`` queues answers ``{"fixture": "anthropic/stream_text.sse",
"status": 200, "headers": {...}, "chunk": 17}`` (a stream is sent ``chunk`` bytes at a time);
``GET /_control`` lists the requests received; ``DELETE /_control`` forgets everything. A
request with nothing scripted gets a 599, so a test never passes on an answer it did not choose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.fixtures import FIXTURES

SCRIPTS: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
RECEIVED: list[dict[str, Any]] = []


async def chat(request: Request) -> Response:
    provider = request.path_params["provider"]
    RECEIVED.append(
        {
            "provider": provider,
            "path": request.url.path,
            "headers": dict(request.headers),
            "body": await request.json(),
        }
    )
    if not SCRIPTS[provider]:
        return JSONResponse({"message": "nothing scripted"}, status_code=599)
    script = SCRIPTS[provider].popleft()
    data = (FIXTURES / script["fixture"]).read_bytes()
    status = script.get("status", 200)
    headers = script.get("headers") or {}
    if not script["fixture"].endswith(".sse"):
        return Response(data, status, headers, media_type="application/json")
    size = script.get("chunk", 17)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]
            await asyncio.sleep(0)

    return StreamingResponse(pieces(), status, headers, media_type="text/event-stream")


async def models(request: Request) -> Response:
    provider = request.path_params["provider"]
    RECEIVED.append({"provider": provider, "path": request.url.path, "headers": {}, "body": None})
    return Response((FIXTURES / provider / "models_list.json").read_bytes(), 200)


async def control(request: Request) -> Response:
    if request.method == "DELETE":
        SCRIPTS.clear()
        RECEIVED.clear()
        return JSONResponse({"ok": True})
    if request.method == "GET":
        return JSONResponse({"requests": RECEIVED})
    answers = json.loads(await request.body())["answers"]
    SCRIPTS[request.path_params["provider"]].extend(answers)
    return JSONResponse({"queued": len(answers)})


app = Starlette(
    routes=[
        Route("/{provider:str}/v1/messages", chat, methods=["POST"]),
        Route("/{provider:str}/v2/chat", chat, methods=["POST"]),
        Route("/{provider:str}/v1/models", models),
        Route("/_control", control, methods=["GET", "DELETE"]),
        Route("/_control/{provider:str}", control, methods=["POST"]),
    ]
)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
