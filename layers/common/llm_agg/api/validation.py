"""Request bodies read once: JSON, then a pydantic model, any fault as an OpenAI-shaped 400."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from llm_agg.api.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


def invalid_request(exc: ValidationError) -> InvalidRequest:
    """The first problem pydantic found, said the way OpenAI says it."""
    first = exc.errors(include_url=False)[0]
    path = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    # Discriminated unions add the tag to the path ("content.0.text.text"): keep it readable.
    message = first["msg"]
    if first["type"] == "missing":
        message = "Missing required parameter"
    elif first["type"] == "extra_forbidden":
        message = "Unrecognized parameter"
    elif first["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    if not path:
        return InvalidRequest(f"Invalid body: {message}.")
    return InvalidRequest(f"Invalid '{path}': {message}.", param=path)


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def parse_body(raw: bytes, model: type[M]) -> M:
    try:
        return model.model_validate(json_object(raw))
    except ValidationError as exc:
        raise invalid_request(exc) from None
