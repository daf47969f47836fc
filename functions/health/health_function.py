"""The health function: ``GET /health``, buffered, under Mangum on AWS."""

from typing import Any

from fastapi import FastAPI

from llm_agg.apps.health import create_health_app
from llm_agg.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_health_app(settings or Settings.from_env())


_handler: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry; the app and its Mangum wrapper are made on the first invocation."""
    global _handler
    if _handler is None:
        from mangum import Mangum

        _handler = Mangum(build_app(), lifespan="off")
    result: dict[str, Any] = _handler(event, context)
    return result
