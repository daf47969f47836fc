"""Error mappings for providers whose error envelope the shared reader (``failures``) does not
know: the status still decides the class; the provider's own reader finds the message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from llm_agg.providers.failures import UpstreamFailure, classify

# The parsed body → (message, code), or None when it is not this envelope.
Pick = Callable[[Any], tuple[str, str | None] | None]


def classify_with(pick: Pick) -> Callable[[int, bytes], UpstreamFailure]:
    def errors(status: int, body: bytes) -> UpstreamFailure:
        failure = classify(status, body)
        if failure.message != f"HTTP {status}":
            return failure
        try:
            found = pick(orjson.loads(body))
        except (orjson.JSONDecodeError, TypeError, KeyError, IndexError):
            return failure
        if found is None:
            return failure
        message, code = found
        return UpstreamFailure(failure.kind, status, message, failure.type, code, failure.param)

    return errors


def problem_json(data: Any) -> tuple[str, str | None] | None:
    """RFC 9457 problem details (NVIDIA's gateway): ``{status, title, detail}``."""
    if not isinstance(data, dict):
        return None
    text = data.get("detail") or data.get("title")
    return (str(text), None) if text else None
