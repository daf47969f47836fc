"""``GET /health``: liveness, and a readiness summary of the providers."""

from __future__ import annotations

from fastapi import FastAPI

from llm_agg import __version__
from llm_agg.apps.base import new_app
from llm_agg.apps.health_gate import DetailsBehindKey
from llm_agg.limits.windows import ACCOUNT
from llm_agg.runtime import get_runtime
from llm_agg.settings import Settings


def create_health_app(settings: Settings) -> FastAPI:
    app = new_app("llm-agg health")
    app.add_middleware(DetailsBehindKey, settings=settings)  # keyed: details for key holders

    @app.get("/health")
    async def health() -> dict[str, object]:
        runtime = get_runtime(settings)
        await runtime.stored.refresh()
        accounts = runtime.accounts()
        providers: dict[str, dict[str, object]] = {}
        ready = False
        active = runtime.quota.cooldowns.active()
        # An account cooling down for one model still serves the others.
        cooling = {(c.provider, c.account) for c in active}
        whole = {(c.provider, c.account) for c in active if c.scope == ACCOUNT}
        for name in sorted(runtime.specs):
            mine = accounts.get(name, [])
            providers[name] = {
                "configured": bool(mine),
                "supported": name in runtime.adapters,
                "accounts": len(mine),
                "cooling_down": [a.account_id for a in mine if (name, a.account_id) in cooling],
            }
            ready = ready or any((name, a.account_id) not in whole for a in mine)
        return {
            "status": "ok",
            "ready": ready,
            "version": __version__,
            "store": settings.store,
            "providers": providers,
        }

    return app
