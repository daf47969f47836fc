"""The agent function: ``/v1/agents/code/invoke`` and ``/v1/agents/resume``.

On AWS it runs under uvicorn behind the Lambda Web Adapter like chat (``run.sh``):
``uvicorn --factory agent_function:build_app``.
"""

from starlette.applications import Starlette

from llm_agg.apps.agent import create_agent_app
from llm_agg.observability import instrument
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings


def build_app(runtime: Runtime | None = None) -> Starlette:
    """This function's app, serving from ``runtime`` (the local server shares one among its
    apps), or from its own made from the environment (on Lambda, one per function)."""
    runtime = runtime or Runtime(Settings.from_env())
    return instrument(create_agent_app(runtime), "agent", runtime.settings.environ)
