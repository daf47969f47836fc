"""What every app shares: OpenAI-shaped errors for everything, including 404s and crashes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from llm_agg.api.errors import GatewayError

if TYPE_CHECKING:
    from llm_agg.runtime import Runtime

log = logging.getLogger("llm_agg.apps")


def error_response(error: GatewayError) -> Response:
    return Response(
        error.body(),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


async def _gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found" if exc.status_code == 404 else None
    return error_response(
        GatewayError(
            str(exc.detail), status=exc.status_code, type="invalid_request_error", code=kind
        )
    )


async def _crash(_: Request, exc: Exception) -> Response:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return error_response(
        GatewayError("The gateway failed on this request.", code="internal_error")
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 once it passes ``limit`` bytes: chunked bodies declare no length, so
    the bound is kept while reading, not only checked against ``content-length``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large()
    except ClientDisconnect:  # gone, or cut off by the server's read timeout: nobody to answer
        raise GatewayError(
            "The request body did not arrive.", status=408, type="invalid_request_error"
        ) from None
    return bytes(body)


async def read_json_body(request: Request, limit: int) -> bytes:
    """``read_body`` of a JSON request, 415 for any other type: a web page can send text/plain
    (or a form) to any origin as a "simple" request without asking, but never JSON without a
    preflight this server does not grant, so no page can spend quota or drive the agent."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise GatewayError(
            "Send the body as JSON with 'Content-Type: application/json'.",
            status=415,
            type="invalid_request_error",
            code="unsupported_media_type",
        )
    return await read_body(request, limit)


def _too_large() -> GatewayError:
    return GatewayError("The request body is too large.", status=413, type="invalid_request_error")


def new_app(title: str, runtime: Runtime) -> FastAPI:
    """An app serving from ``runtime`` (on ``app.state``), which it closes when it shuts down.
    Mounted in the local server, its lifespan is the server's, which closes the shared one."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runtime.aclose()

    # No trailing-slash redirects: Starlette builds their Location from the Host header, so a
    # forged Host would be sent back as a redirect; "/v1/models/" is a 404 like any other.
    app = FastAPI(
        title=title, docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
    )
    app.router.lifespan_context = lifespan
    app.state.runtime = runtime
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _crash)
    return app
