"""The health function: ``GET /health``, buffered, under Mangum on AWS."""

from starlette.applications import Starlette

from llm_agg.apps.health import create_health_app
from llm_agg.apps.lambda_entry import mangum_handler
from llm_agg.observability import instrument
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings


def build_app(runtime: Runtime | None = None) -> Starlette:
    """This function's app, serving from ``runtime`` (the local server shares one among its
    apps), or from its own made from the environment (on Lambda, one per function)."""
    runtime = runtime or Runtime(Settings.from_env())
    return instrument(create_health_app(runtime), "health", runtime.settings.environ)


handler = mangum_handler(build_app)
