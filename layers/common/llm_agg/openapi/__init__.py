"""The gateway's OpenAPI 3.1 document, served at ``GET /openapi.json``.

Made from the route table (``routes.OPERATIONS``) once per process, on first request: the
functions that never serve it pay nothing at cold start.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from llm_agg import __version__
from llm_agg.api.agent import CodeAgentResponse


@cache
def openapi_document() -> dict[str, Any]:
    from llm_agg.openapi.routes import OPERATIONS
    from llm_agg.openapi.schemas import HANDWRITTEN
    from llm_agg.openapi.spec import document

    return document(OPERATIONS, HANDWRITTEN, [CodeAgentResponse], __version__)


@cache
def openapi_json() -> bytes:
    return orjson.dumps(openapi_document())
