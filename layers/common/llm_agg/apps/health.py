"""``GET /health``: liveness, and a readiness summary of the providers."""

from __future__ import annotations

from fastapi import FastAPI

from llm_agg import __version__
from llm_agg.apps.base import new_app
from llm_agg.runtime import get_runtime
from llm_agg.settings import Settings


def create_health_app(settings: Settings) -> FastAPI:
    app = new_app("llm-agg health")

    @app.get("/health")
    async def health() -> dict[str, object]:
        runtime = get_runtime(settings)
        await runtime.stored.refresh()
        accounts = runtime.accounts()
        providers: dict[str, dict[str, object]] = {}
        ready = False
        for name in sorted(runtime.specs):
            mine = accounts.get(name, [])
            cooling = [
                a.account_id
                for a in mine
                if runtime.cooldowns.until((a.provider, a.account_id)) is not None
            ]
            providers[name] = {
                "configured": bool(mine),
                "supported": name in runtime.adapters,
                "accounts": len(mine),
                "cooling_down": cooling,
            }
            ready = ready or len(cooling) < len(mine)
        return {
            "status": "ok",
            "ready": ready,
            "version": __version__,
            "store": settings.store,
            "providers": providers,
        }

    return app
