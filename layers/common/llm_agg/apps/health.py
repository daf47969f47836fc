"""``GET /health``: liveness, and a readiness summary of the providers and their accounts."""

from __future__ import annotations

import asyncio
import logging

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from llm_agg import __version__
from llm_agg.admin.views import account_state
from llm_agg.apps.base import new_app, route
from llm_agg.apps.health_gate import DetailsBehindKey
from llm_agg.runtime import Runtime

log = logging.getLogger("llm_agg.health")

# States in which an account still serves requests (a failing one only as a last resort).
SERVING = frozenset({"healthy", "cooling_down"})


def create_health_app(runtime: Runtime) -> Starlette:
    settings = runtime.settings

    async def health(_: Request) -> Response:
        await runtime.stored.refresh()
        try:
            # What every worker and Lambda stored; awaited, as a Lambda's loop ends with it.
            await asyncio.to_thread(runtime.quota.refresh)
        except Exception as exc:  # the store's trouble: liveness still answers
            log.warning("health could not read the router's state: %s", type(exc).__name__)
        accounts = runtime.accounts()
        now = runtime.clock()
        providers: dict[str, dict[str, object]] = {}
        ready = False
        for name in sorted(runtime.specs):
            mine = accounts.get(name, [])
            states: dict[str, dict[str, object]] = {}
            cooling: list[str] = []
            for account in mine:
                until, known = runtime.router.known_state(
                    name, account.account_id, account.quota_group
                )
                state, state_until = account_state(True, None, known, until, now)
                states[account.account_id] = {
                    "state": state,
                    "until": state_until,
                    "last_error": known.get("last_error"),
                    "last_error_at": known.get("last_error_at"),
                }
                # An account cooling down for one model still serves the others.
                if known.get("cooling_down"):
                    cooling.append(account.account_id)
                ready = ready or (state in SERVING and until is None)
            providers[name] = {
                "configured": bool(mine),
                "supported": name in runtime.adapters,
                "accounts": len(mine),
                "cooling_down": cooling,
                "states": states,
            }
        summary = {
            "status": "ok",
            "ready": ready,
            "version": __version__,
            "store": settings.store,
            "providers": providers,
        }
        return Response(orjson.dumps(summary), media_type="application/json")

    app = new_app(runtime, [route("/health", health, "GET")])
    app.add_middleware(DetailsBehindKey, runtime=runtime)  # keyed: details for key holders
    return app
