"""The Lambda entry of a buffered function (admin, health): Mangum around the function's app,
both made on the first invocation, not at import (cold start)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]


def mangum_handler(build_app: Callable[[], Any]) -> Callable[[Event, Any], Event]:
    wrapped: Any = None

    def handler(event: Event, context: Any) -> Event:
        nonlocal wrapped
        if wrapped is None:
            from mangum import Mangum

            # Mangum would run the app's lifespan on every invocation.
            wrapped = Mangum(build_app(), lifespan="off")
        result: Event = wrapped(event, context)
        return result

    return handler
