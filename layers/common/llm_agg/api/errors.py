"""Every error a client can see, rendered in OpenAI's shape.

    GatewayError                      any failure, with an HTTP status and an OpenAI error type
     ├── InvalidRequest        400    the body is wrong, or no provider can take it as it is
     ├── Unauthenticated       401    missing or unknown gateway key
     ├── PermissionDenied      403    the key may not do this
     ├── NotFound              404    unknown model, thread or record
     ├── Conflict              409    a concurrent change won
     ├── RequestTooLarge       413    every provider tried refused the request as too large
     ├── RateLimited           429    every candidate is out of quota (Retry-After set)
     ├── UpstreamFailed        502    every attempt failed; the message lists them
     ├── NoProviderConfigured  503    nothing to send the request to
     └── UpstreamTimeout       504    every attempt timed out

Bodies are ``{"error": {"message", "type", "param", "code"}}``; in a stream the same object
travels as one ``data:`` event, which the OpenAI SDKs raise as ``APIError``.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson


class GatewayError(Exception):
    status = 500
    type = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def to_dict(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def sse(self) -> bytes:
        return b"data: " + self.body() + b"\n\n"


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class Unauthenticated(GatewayError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class Conflict(GatewayError):
    status = 409
    type = "conflict_error"


class RequestTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamFailed(GatewayError):
    status = 502
    type = "server_error"
    default_code = "upstream_failed"


class NoProviderConfigured(GatewayError):
    status = 503
    type = "server_error"
    default_code = "no_provider_configured"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "server_error"
    default_code = "upstream_timeout"
