"""The Lambda entry of a buffered function (admin, health): Mangum around the function's app,
both made on the first invocation, not at import (cold start)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
# Bodies sent as text, not base64 (which a REST API without binary media types would pass on
# as is): Mangum's defaults and the web page's SVG icon.
TEXT_TYPES = [
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
]


def mangum_handler(build_app: Callable[[], Any]) -> Callable[[Event, Any], Event]:
    wrapped: Any = None

    def handler(event: Event, context: Any) -> Event:
        nonlocal wrapped
        if wrapped is None:
            from mangum import Mangum

            # Mangum would run the app's lifespan on every invocation.
            wrapped = Mangum(build_app(), lifespan="off", text_mime_types=TEXT_TYPES)
        result: Event = wrapped(event, context)
        return result

    return handler
