"""The admin function: ``/admin/*`` and the web page at ``/ui``, buffered, under Mangum on AWS."""

from fastapi import FastAPI

from llm_agg.apps.admin import create_admin_app
from llm_agg.apps.lambda_entry import mangum_handler
from llm_agg.observability import instrument
from llm_agg.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    return instrument(create_admin_app(settings), "admin", settings.environ)


handler = mangum_handler(build_app)
