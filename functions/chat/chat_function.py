"""The chat function: ``/v1/chat/completions`` and ``/v1/models``, streamed.

On AWS it runs under uvicorn behind the Lambda Web Adapter (``run.sh``):
``uvicorn --factory chat_function:build_app``.
"""

from fastapi import FastAPI

from llm_agg.apps.chat import create_chat_app
from llm_agg.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_chat_app(settings or Settings.from_env())
