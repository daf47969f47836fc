"""``/health`` on a gateway that requires keys: liveness for anyone, details for key holders.

Which providers are configured, which accounts cool down until when, the version: that maps a
deployment for an attacker. So on a keyed gateway a caller without a valid gateway key or the
admin key gets only ``{"status": "ok"}`` (a wrong key too: liveness stays public). An open
loopback server shows everything, as before.
"""

from __future__ import annotations

import hmac

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from llm_agg.api.errors import GatewayError
from llm_agg.apps.auth import admin_key_problem, bearer, digest, find_key
from llm_agg.runtime import Runtime

LIVENESS = orjson.dumps({"status": "ok"})


class DetailsBehindKey:
    """ASGI middleware of the health app (a wrapper, so the route itself stays as it is)."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.settings = runtime.settings
        admin = self.settings.admin_key
        self._admin = digest(admin) if admin and not admin_key_problem(admin) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.settings.require_auth
            or scope["path"] != "/health"
            or scope["method"] not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)  # open server, or a 404/405 to say
            return
        if await self._key_holder(Request(scope)):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": LIVENESS})

    async def _key_holder(self, request: Request) -> bool:
        key = bearer(request)
        if key is None:
            return False
        if self._admin is not None and hmac.compare_digest(digest(key), self._admin):
            return True
        try:
            return await find_key(self.runtime.stored, key) is not None
        except GatewayError:  # the store is down: liveness still answers
            return False
