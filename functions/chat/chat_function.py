"""The chat function: ``/v1/chat/completions`` and ``/v1/models``, streamed.

On AWS it runs under uvicorn behind the Lambda Web Adapter (``run.sh``):
``uvicorn --factory chat_function:build_app``.
"""

from starlette.applications import Starlette

from llm_agg.apps.chat import create_chat_app
from llm_agg.observability import instrument
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings


def build_app(runtime: Runtime | None = None) -> Starlette:
    """This function's app, serving from ``runtime`` (the local server shares one among its
    apps), or from its own made from the environment (on Lambda, one per function)."""
    runtime = runtime or Runtime(Settings.from_env())
    return instrument(create_chat_app(runtime), "chat", runtime.settings.environ)
