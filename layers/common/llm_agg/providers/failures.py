"""Every upstream failure, built here and nowhere else: one typed value per failed attempt.

The kind decides what the gateway does next, and at which level the fault lies::

    UpstreamFailure(kind, status, message, type, code, param, parking, reached, announced)
     ├── CLIENT         the request itself is wrong: returned at once, nobody else is tried
     ├── model level    another model may serve it (same provider or not)
     │    ├── NOT_FOUND     404: this provider does not serve the model (any more)
     │    └── MODEL         400 naming the model's own limit (context, decommissioned, tools)
     ├── account level  this account, whatever the model
     │    ├── RATE_LIMITED  429 (and Groq's 413 over its tokens per minute); ``parking`` is
     │    │                 set when a quota is spent (its scope is parked until its reset)
     │    └── ACCOUNT       401/403 key refused, 402 no credits: the account leaves rotation
     ├── TOO_LARGE      larger than this provider takes in one request (GitHub Models)
     └── provider level the provider as a whole is in trouble: other providers first
          ├── SERVER        5xx, overloaded, a malformed answer, a stream that broke
          ├── TIMEOUT       no answer (or no next event) in time, 408
          └── CONNECTION    refused, reset, DNS; ``reached`` says whether the request left

Classified by status and error code, never by message text. Built by ``classify`` (an HTTP
error answer), ``transport`` (no answer), ``broken`` (a 2xx that went wrong), ``stalled``
(past its deadline); ``limits.spent`` adds the ``Parking`` a 429's headers announce.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from llm_agg.providers.parking import Parking


class FailureKind(enum.Enum):
    CLIENT = "client"  # the request itself is wrong: return it, trying elsewhere won't help
    RATE_LIMITED = "rate_limited"  # this account is out of quota for now
    ACCOUNT = "account"  # key refused, no credits, no permission: our account's trouble
    NOT_FOUND = "not_found"  # this provider does not serve the model
    MODEL = "model"  # this model cannot take this request; another model may
    SERVER = "server"  # 5xx, overloaded, capacity
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    # larger than this provider takes in one request (GitHub Models): another may take it
    TOO_LARGE = "too_large"

    @property
    def fails_over(self) -> bool:
        return self is not FailureKind.CLIENT

    @property
    def model_level(self) -> bool:
        return self in (FailureKind.NOT_FOUND, FailureKind.MODEL)

    @property
    def provider_level(self) -> bool:
        """A fault of the provider (or of this account with it): try other providers first."""
        return self in (
            FailureKind.SERVER,
            FailureKind.TIMEOUT,
            FailureKind.CONNECTION,
            FailureKind.ACCOUNT,
        )


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    kind: FailureKind
    status: int | None
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None
    # The quota a 429 says is spent and until when: from the provider's error body (its own
    # ``errors`` mapping: Gemini) or, failing that, from a reset hours away (limits.spent).
    parking: Parking | None = None
    reached: bool = True  # False: the request never left (refused, DNS): nothing to charge
    # Rate-limit headers the provider repeated in its error body (OpenRouter's metadata).
    announced: Mapping[str, str] = field(default_factory=dict)

    @property
    def key_refused(self) -> bool:
        return self.kind is FailureKind.ACCOUNT and self.status != 402

    @property
    def no_credits(self) -> bool:
        return self.kind is FailureKind.ACCOUNT and self.status == 402

    def describe(self) -> str:
        """``HTTP 503 (server)``: what a status line shows as the last error."""
        status = f"HTTP {self.status}" if self.status else self.kind.value
        return f"{status} ({self.kind.value})"


# Error codes that say the key, not the request, is wrong (some providers answer 400).
_KEY_CODES = frozenset({"invalid_api_key", "API_KEY_INVALID", "invalid_key"})
# 400 codes naming the model's own limit: another model may take the same request.
_MODEL_CODES = frozenset(
    {
        "model_not_found",
        "model_decommissioned",
        "model_not_available",
        "unsupported_model",
        "context_length_exceeded",
        "tool_use_failed",
    }
)


def _kind(status: int, code: str | None) -> FailureKind:
    if status == 429:
        return FailureKind.RATE_LIMITED
    if status == 413 and code == "rate_limit_exceeded":
        # Groq: larger than this account's tokens-per-minute, not larger than any model takes.
        return FailureKind.RATE_LIMITED
    if status in (401, 402, 403) or (400 <= status < 500 and code in _KEY_CODES):
        return FailureKind.ACCOUNT
    if status == 404:
        return FailureKind.NOT_FOUND
    if status == 408:
        return FailureKind.TIMEOUT
    if 400 <= status < 500 and code in _MODEL_CODES:
        return FailureKind.MODEL
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


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, code, param) from any provider's error envelope.

    Nested ``{"error": {...}}`` (OpenAI, Groq, Together, OpenRouter with an int code), flat
    (Cerebras), ``{"type": "error", "error": {...}}`` (Anthropic), ``{"message"}`` (Cohere).
    """
    return _fields(_decode(body))


def _fields(data: Any) -> tuple[str | None, str | None, str | None, str | None]:
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


def _embedded_headers(data: Any) -> dict[str, str]:
    """The rate-limit headers OpenRouter repeats in ``error.metadata.headers``."""
    inner = data.get("error") if isinstance(data, dict) else None
    meta = inner.get("metadata") if isinstance(inner, dict) else None
    found = meta.get("headers") if isinstance(meta, dict) else None
    if not isinstance(found, dict):
        return {}
    return {str(k).lower(): str(v) for k, v in found.items()}


def classify(status: int, body: bytes) -> UpstreamFailure:
    """An HTTP error answer (``ProviderSpec.errors`` of most providers). Whether a 429 announces
    a quota spent for hours is read from its headers and ``announced`` by ``limits.spent``; a
    provider's own mapping may set ``parking`` itself."""
    data = _decode(body)
    message, type_, code, param = _fields(data)
    return UpstreamFailure(
        kind=_kind(status, code),
        status=status,
        message=message or f"HTTP {status}",
        type=type_,
        code=code,
        param=param,
        announced=_embedded_headers(data),
    )


def moderated(status: int, body: bytes) -> UpstreamFailure:
    """OpenRouter's errors: its 403 is its moderation or guardrail refusing this request, not
    a refused key (that is a 401), so it is the client's, not a reason to park the account."""
    failure = classify(status, body)
    return replace(failure, kind=FailureKind.CLIENT) if status == 403 else failure


def transport(
    kind: FailureKind, exc: Exception | None = None, *, reached: bool = True
) -> UpstreamFailure:
    """No answer: a timeout, or a connection that failed (``reached`` False when it was never
    made: refused, DNS, connect timeout)."""
    detail = type(exc).__name__ if exc is not None else "no answer in time"
    return UpstreamFailure(kind, None, f"{kind.value} error ({detail})", reached=reached)


def broken(message: str, status: int | None = None) -> UpstreamFailure:
    """A 2xx that went wrong: a malformed body, a stream that ended early or broke off."""
    return UpstreamFailure(FailureKind.SERVER, status, message)


def stalled(what: str, seconds: float) -> UpstreamFailure:
    """An attempt past its deadline: ``what`` did not come within ``seconds``."""
    return UpstreamFailure(FailureKind.TIMEOUT, None, f"timeout error ({what} within {seconds:g}s)")
