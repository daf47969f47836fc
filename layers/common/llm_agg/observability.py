"""Logs and metrics on Lambda: Powertools JSON logs keyed by request, CloudWatch EMF metrics.

Off Lambda (no ``AWS_LAMBDA_FUNCTION_NAME``) ``instrument`` returns the app as it is and
Powertools is never imported: a local server and a function module's import pay nothing.

Every log line of a request names its Lambda request id (``function_request_id``) and API
Gateway's (``correlation_id``). Under the Lambda Web Adapter (chat, agent) they arrive as the
``x-amzn-lambda-context`` and ``x-amzn-request-context`` headers (the adapter sets both,
replacing any a client sent); under Mangum (admin, health) as ``aws.context``/``aws.event``.

Metrics (namespace ``POWERTOOLS_METRICS_NAMESPACE``, one EMF line per event):

    http_requests, http_errors (5xx), http_latency    dimensions service          per request
    requests, errors, tokens, prompt_tokens,          dimensions service,         per attempt
    completion_tokens, latency                        provider                    at a provider
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from llm_agg.providers.base import Usage

NAMESPACE = "LLMAggregator"
App = TypeVar("App", bound="Starlette")


def on_lambda(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))


class Observer:
    """Powertools, set up once per process for one function."""

    def __init__(self, service: str, environ: Mapping[str, str]) -> None:
        from aws_lambda_powertools import Logger
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        self.service = service
        self.namespace = environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        self._metrics = EphemeralMetrics
        self._unit = MetricUnit
        self.logger = Logger(service=service)
        self.logger.append_keys(
            function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            function_memory_size=environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        )
        # The package logs through stdlib loggers under "llm_agg": one JSON handler for all.
        package = logging.getLogger("llm_agg")
        package.handlers = [self.logger.registered_handler]
        package.setLevel(self.logger.log_level)
        package.propagate = False
        self.cold = True

    def emit(self, dimensions: Mapping[str, str], values: Mapping[str, tuple[str, float]]) -> None:
        """One EMF line: ``values`` maps a metric name to (unit name, value)."""
        metrics = self._metrics(namespace=self.namespace, service=self.service)
        for name, value in dimensions.items():
            metrics.add_dimension(name, value)
        for name, (unit, amount) in values.items():
            metrics.add_metric(name=name, unit=getattr(self._unit, unit), value=amount)
        metrics.flush_metrics()

    def request_keys(self, scope: Scope) -> dict[str, Any]:
        keys: dict[str, Any] = {"cold_start": self.cold}
        self.cold = False
        context = scope.get("aws.context")
        if context is not None:  # Mangum
            keys["function_request_id"] = getattr(context, "aws_request_id", None)
            request_context = (scope.get("aws.event") or {}).get("requestContext") or {}
        else:  # the adapter's headers
            headers = dict(scope.get("headers") or ())
            lambda_context = _json(headers.get(b"x-amzn-lambda-context"))
            keys["function_request_id"] = lambda_context.get("request_id")
            # Not "xray_trace_id": Powertools fills that from the process environment, which
            # under the adapter holds no per-request value.
            keys["trace_id"] = lambda_context.get("xray_trace_id")
            request_context = _json(headers.get(b"x-amzn-request-context"))
        keys["correlation_id"] = request_context.get("requestId")
        return {name: value for name, value in keys.items() if value is not None}


def _json(raw: bytes | None) -> dict[str, Any]:
    try:
        value = orjson.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_observer: Observer | None = None


class RequestObserver:
    """ASGI middleware: the request's ids on every log line, then its metrics and log line."""

    def __init__(self, app: ASGIApp, observer: Observer) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observer = self.observer
        keys = observer.request_keys(scope)
        # Context-local keys: each request runs in its own task, so requests never mix.
        observer.logger.thread_safe_append_keys(**keys)
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            observer.logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round(elapsed, 2),
                },
            )
            observer.emit(
                {},
                {
                    "http_requests": ("Count", 1),
                    "http_errors": ("Count", int(status >= 500)),
                    "http_latency": ("Milliseconds", elapsed),
                },
            )
            observer.logger.thread_safe_remove_keys(keys)


def instrument(app: App, service: str, environ: Mapping[str, str]) -> App:
    """On Lambda, observe ``app`` (logs and metrics); elsewhere, leave it as it is. A Lambda
    process runs one function: the first service named is the one every line carries."""
    global _observer
    if not on_lambda(environ):
        return app
    if _observer is None:
        _observer = Observer(service, environ)
    app.add_middleware(RequestObserver, observer=_observer)
    return app


def record_attempt(provider: str, ok: bool, latency_ms: float, usage: Usage | None = None) -> None:
    """One attempt at ``provider`` ended (the dispatcher's accounting reports each)."""
    if _observer is None:
        return
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    _observer.emit(
        {"provider": provider},
        {
            "requests": ("Count", 1),
            "errors": ("Count", int(not ok)),
            "latency": ("Milliseconds", latency_ms),
            "tokens": ("Count", prompt + completion),
            "prompt_tokens": ("Count", prompt),
            "completion_tokens": ("Count", completion),
        },
    )
