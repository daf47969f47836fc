"""A scriptable OpenAI-compatible provider for tests, served on loopback.

Each provider lives under its own path prefix (``/groq/v1/chat/completions``; Cloudflare's
``/cloudflare/client/v4/accounts/{account}/ai/v1/...``), so one process plays several
providers. ``POST /_control/{provider}`` queues scripted answers (``{"answers":
[...]}`` for chat, ``{"models": [...]}`` for the model list, which a key check asks); ``GET
/_control/requests`` lists what was received; ``DELETE /_control`` forgets everything.

A scripted answer: ``{"status": 429, "headers": {...}, "body": {...}}``, or for a stream
``{"chunks": [...], "delay": 0.2, "break_after": 2}``. Stalls: ``{"hold": 30}`` answers
nothing for that long (counting a client that leaves in ``disconnects``), ``{"trickle": 30}``
sends a space every 0.1 s for that long (OpenRouter's keep-alive on a long call), and
``{"stall_after": 1, "stall": 30}`` stops a stream after that many chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict, deque
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SCRIPTS: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
MODEL_SCRIPTS: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
RECEIVED: list[dict[str, Any]] = []
STATE = {"stream_delay": 0.0, "disconnects": 0}


def _reply_content(body: dict[str, Any], provider: str) -> str:
    fmt = (body.get("response_format") or {}).get("type")
    if fmt in ("json_object", "json_schema"):
        return json.dumps({"provider": provider, "ok": True})
    last = body["messages"][-1]
    text = last.get("content") if isinstance(last.get("content"), str) else "parts"
    return f"Hello from {provider}: {text}"


def _tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    if not tools or body.get("tool_choice") == "none":
        return None
    if body["messages"][-1].get("role") == "tool":
        return None
    name = tools[0]["function"]["name"]
    return {
        "id": "call_fake_1",
        "type": "function",
        "function": {"name": name, "arguments": '{"city": "Paris"}'},
    }


def _completion(body: dict[str, Any], provider: str) -> dict[str, Any]:
    call = _tool_call(body)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if call else _reply_content(body, provider),
    }
    if call:
        message["tool_calls"] = [call]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if call else "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def _chunks(body: dict[str, Any], provider: str) -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
    }
    call = _tool_call(body)
    out = [
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": None if call else ""},
                    "finish_reason": None,
                }
            ],
        }
    ]
    if call:
        out.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        },
                        "finish_reason": None,
                    }
                ],
            }
        )
        out.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "function": {"arguments": call["function"]["arguments"]},
                                }
                            ]
                        },
                        "finish_reason": None,
                    }
                ],
            }
        )
    else:
        for word in _reply_content(body, provider).split(" "):
            out.append(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}
                    ],
                }
            )
    out.append(
        {
            **base,
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "tool_calls" if call else "stop"}
            ],
        }
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append(
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }
        )
    return out


async def chat(request: Request) -> Response:
    provider = request.path_params["provider"]
    body = await request.json()
    RECEIVED.append(
        {
            "provider": provider,
            "path": request.url.path,
            "body": body,
            "headers": dict(request.headers),
        }
    )
    script = SCRIPTS[provider].popleft() if SCRIPTS[provider] else {}
    if "status" in script and script["status"] != 200:
        return JSONResponse(
            script.get("body", {"error": {"message": "scripted"}}),
            status_code=script["status"],
            headers=script.get("headers"),
        )
    if script.get("sleep"):
        await asyncio.sleep(script["sleep"])
    if script.get("hold"):
        return await _hold(request, script["hold"])
    if script.get("trickle"):
        return StreamingResponse(_trickle(script["trickle"]), media_type="application/json")
    if not body.get("stream"):
        return JSONResponse(
            script.get("body") or _completion(body, provider), headers=script.get("headers")
        )
    chunks = script.get("chunks") or _chunks(body, provider)
    delay = script.get("delay", STATE["stream_delay"])
    break_after = script.get("break_after")
    stall_after = script.get("stall_after")

    async def events() -> Any:
        try:
            for i, chunk in enumerate(chunks):
                if break_after is not None and i == break_after:
                    return
                if stall_after is not None and i == stall_after:
                    await asyncio.sleep(script.get("stall", 30))
                yield (
                    f"data: {json.dumps(chunk)}\n\n".encode()
                    if not isinstance(chunk, str)
                    else chunk.encode()
                )
                if delay:
                    await asyncio.sleep(delay)
            yield b"data: [DONE]\n\n"
        except asyncio.CancelledError:
            STATE["disconnects"] += 1
            raise

    return StreamingResponse(
        events(), media_type="text/event-stream", headers=script.get("headers")
    )


async def _hold(request: Request, seconds: float) -> Response:
    """No answer for ``seconds``; a client that leaves meanwhile is counted and let go."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            STATE["disconnects"] += 1
            return Response(status_code=499)
        await asyncio.sleep(0.05)
    return JSONResponse({"error": {"message": "held too long"}}, status_code=504)


async def _trickle(seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield b" "
        await asyncio.sleep(0.1)
    yield b"{}"


async def models(request: Request) -> Response:
    queue = MODEL_SCRIPTS[request.path_params["provider"]]
    script = queue.popleft() if queue else {}
    if script.get("status", 200) != 200:
        body = script.get("body", {"error": {"message": "scripted"}})
        return JSONResponse(body, status_code=script["status"], headers=script.get("headers"))
    return JSONResponse(
        {
            "object": "list",
            "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}],
        }
    )


async def control(request: Request) -> Response:
    if request.method == "DELETE":
        SCRIPTS.clear()
        MODEL_SCRIPTS.clear()
        RECEIVED.clear()
        STATE.update(stream_delay=0.0, disconnects=0)
        return JSONResponse({"ok": True})
    if request.method == "GET":
        return JSONResponse({"requests": RECEIVED, "disconnects": STATE["disconnects"]})
    provider = request.path_params["provider"]
    payload = await request.json()
    SCRIPTS[provider].extend(payload.get("answers", []))
    MODEL_SCRIPTS[provider].extend(payload.get("models", []))
    if "stream_delay" in payload:
        STATE["stream_delay"] = payload["stream_delay"]
    return JSONResponse({"queued": len(SCRIPTS[provider])})


app = Starlette(
    routes=[
        Route("/{provider}/v1/chat/completions", chat, methods=["POST"]),
        # Cloudflare's account is part of its URL.
        Route(
            "/{provider}/client/v4/accounts/{account}/ai/v1/chat/completions",
            chat,
            methods=["POST"],
        ),
        Route("/{provider}/v1/models", models),
        Route("/_control", control, methods=["GET", "DELETE"]),
        Route("/_control/requests", control, methods=["GET"]),
        Route("/_control/{provider}", control, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
