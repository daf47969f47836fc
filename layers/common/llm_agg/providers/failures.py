"""Upstream failures, classified once by HTTP status (never by message text).

The class decides what the gateway does next: a client fault is returned at once; anything
else moves on to the next candidate, and a rate limit also cools the account.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import orjson

from llm_agg.providers.parking import Parking


class FailureKind(enum.Enum):
    CLIENT = "client"  # the request itself is wrong: return it, trying elsewhere won't help
    RATE_LIMITED = "rate_limited"  # this account is out of quota for now
    ACCOUNT = "account"  # key refused, no credits, no permission: our account's trouble
    NOT_FOUND = "not_found"  # this provider does not serve the model
    SERVER = "server"  # 5xx, overloaded, capacity
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    # larger than this provider takes in one request (GitHub Models): another may take it
    TOO_LARGE = "too_large"

    @property
    def fails_over(self) -> bool:
        return self is not FailureKind.CLIENT


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    kind: FailureKind
    status: int | None
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None
    parking: Parking | None = None  # the quota its body says is spent, and until when


def _kind(status: int, code: str | None) -> FailureKind:
    if status == 429:
        return FailureKind.RATE_LIMITED
    if status == 413 and code == "rate_limit_exceeded":
        # Groq: larger than this account's tokens-per-minute, not larger than any model takes.
        return FailureKind.RATE_LIMITED
    if status in (401, 402, 403):
        return FailureKind.ACCOUNT
    if status == 404:
        return FailureKind.NOT_FOUND
    if status == 408:
        return FailureKind.TIMEOUT
    if 400 <= status < 500 and status != 498:
        return FailureKind.CLIENT
    return FailureKind.SERVER


# Anthropic's error types, as OpenAI names them; a renamed one stays as the code.
_ANTHROPIC_TYPES = {
    "request_too_large": "invalid_request_error",
    "not_found_error": "invalid_request_error",
    "billing_error": "insufficient_quota",
    "api_error": "server_error",
    "overloaded_error": "server_error",
    "timeout_error": "server_error",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, code, param) from any provider's error envelope.

    Nested ``{"error": {...}}`` (OpenAI, Groq, Together, OpenRouter with an int code), flat
    (Cerebras), ``{"type": "error", "error": {...}}`` (Anthropic), ``{"message"}`` (Cohere).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None, None, None
    if not isinstance(data, dict):
        return None, None, None, None
    inner = data.get("error")
    if isinstance(inner, dict) and data.get("type") == "error" and "code" not in inner:
        native = _text(inner.get("type"))
        renamed = _ANTHROPIC_TYPES.get(native or "")
        return _text(inner.get("message")), renamed or native, native if renamed else None, None
    if isinstance(inner, dict):
        data = inner
    elif isinstance(inner, str):
        return inner, None, None, None
    return (
        _text(data.get("message")),
        _text(data.get("type")),
        _text(data.get("code")),
        _text(data.get("param")),
    )


def classify(status: int, body: bytes) -> UpstreamFailure:
    message, type_, code, param = error_fields(body)
    return UpstreamFailure(
        kind=_kind(status, code),
        status=status,
        message=message or f"HTTP {status}",
        type=type_,
        code=code,
        param=param,
    )
