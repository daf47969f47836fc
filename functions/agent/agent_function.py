"""The agent function: ``/v1/agents/code/invoke`` and ``/v1/agents/resume``.

On AWS it runs under uvicorn behind the Lambda Web Adapter like chat (``run.sh``):
``uvicorn --factory agent_function:build_app``.
"""

from fastapi import FastAPI

from llm_agg.apps.agent import create_agent_app
from llm_agg.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_agent_app(settings or Settings.from_env())
