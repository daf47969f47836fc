"""Sends a request to its targets in order until one answers, and relays that answer.

A 429 cools the account until the reset the provider announced; 5xx, timeouts, connection
errors and a key the provider refuses move on to the next target; a fault of the request itself
is returned at once. A stream fails over only before its first event reaches the client; after
that, a failure ends it with an SSE error event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import httpx
from starlette.responses import Response, StreamingResponse

from llm_agg.api.chat import ChatCall
from llm_agg.api.errors import (
    GatewayError,
    NotFound,
    RateLimited,
    UpstreamFailed,
    UpstreamTimeout,
)
from llm_agg.limits.headers import retry_after
from llm_agg.providers.base import (
    Adapter,
    Completion,
    MalformedResponse,
    StreamTranslator,
    Target,
)
from llm_agg.providers.failures import FailureKind, UpstreamFailure, classify
from llm_agg.providers.sse import SSEParser
from llm_agg.runtime import Runtime

log = logging.getLogger("llm_agg.dispatch")

DEFAULT_COOLDOWN = 60.0
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass(frozen=True, slots=True)
class Attempt:
    target: Target
    failure: UpstreamFailure

    def describe(self) -> str:
        f = self.failure
        status = f"HTTP {f.status}" if f.status else f.kind.value
        detail = _scrub(f.message, self.target)[:200]
        return f"{self.target.spec.name}/{self.target.model} ({status}: {detail})"


def _scrub(text: str, target: Target) -> str:
    key = target.account.api_key
    return text.replace(key, "***") if key else text


def _headers(target: Target, attempts: int) -> dict[str, str]:
    return {
        "x-llm-agg-provider": target.spec.name,
        "x-llm-agg-model": target.model,
        "x-llm-agg-attempts": str(attempts),
    }


def _client_error(failure: UpstreamFailure, target: Target, attempts: int) -> GatewayError:
    return GatewayError(
        _scrub(failure.message, target),
        status=failure.status or 400,
        type=failure.type or "invalid_request_error",
        code=failure.code,
        param=failure.param,
        headers=_headers(target, attempts),
    )


def _exhausted(attempts: list[Attempt], runtime: Runtime) -> GatewayError:
    kinds = {a.failure.kind for a in attempts}
    listing = "; ".join(a.describe() for a in attempts)
    count = {"x-llm-agg-attempts": str(len(attempts))}
    if kinds == {FailureKind.RATE_LIMITED}:
        now = runtime.cooldowns.clock()
        waits = [
            until - now
            for a in attempts
            if (until := runtime.cooldowns.until((a.target.spec.name, a.target.account.account_id)))
        ]
        wait = max(1, round(min(waits))) if waits else 1
        return RateLimited(
            f"Every provider is rate-limited (retry in {wait}s): {listing}.",
            headers={**count, "retry-after": str(wait)},
        )
    if kinds == {FailureKind.TIMEOUT}:
        return UpstreamTimeout(f"Every provider timed out: {listing}.", headers=count)
    if kinds == {FailureKind.NOT_FOUND}:
        return NotFound(
            f"No provider serves this model: {listing}.", code="model_not_found", headers=count
        )
    return UpstreamFailed(f"All {len(attempts)} attempts failed: {listing}.", headers=count)


@dataclass(frozen=True, slots=True)
class Served:
    completion: Completion
    target: Target
    attempts: int


T = TypeVar("T")
_Once = Callable[[ChatCall, Target, Adapter, int], Awaitable[T | Attempt]]


class Dispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _note(self, target: Target, failure: UpstreamFailure, headers: httpx.Headers) -> Attempt:
        if failure.kind is FailureKind.RATE_LIMITED:
            cooldowns = self.runtime.cooldowns
            wait = retry_after(headers, cooldowns.clock())
            cooldowns.cool(
                (target.spec.name, target.account.account_id),
                DEFAULT_COOLDOWN if wait is None else wait,
            )
        log.warning(
            "attempt failed: provider=%s model=%s account=%s kind=%s status=%s",
            target.spec.name,
            target.model,
            target.account.account_id,
            failure.kind.value,
            failure.status,
        )
        return Attempt(target, failure)

    async def send(self, call: ChatCall, targets: list[Target]) -> Response:
        """Serve ``call`` as an HTTP response: the answer, or the stream to relay."""
        if call.stream:
            return await self._try_each(call, targets, self._stream_once)
        served = await self.complete(call, targets)
        return Response(
            served.completion.body,
            media_type="application/json",
            headers=_headers(served.target, served.attempts),
        )

    async def complete(self, call: ChatCall, targets: list[Target]) -> Served:
        """The first answer any target gives to a non-streaming ``call``."""
        return await self._try_each(call, targets, self._once)

    async def _try_each(self, call: ChatCall, targets: list[Target], once: _Once[T]) -> T:
        started = time.monotonic()
        attempts: list[Attempt] = []
        for target in targets[: self.runtime.settings.max_attempts]:
            if time.monotonic() - started > self.runtime.settings.deadline:
                break
            adapter = self.runtime.adapters[target.spec.name]
            outcome = await once(call, target, adapter, len(attempts) + 1)
            if not isinstance(outcome, Attempt):
                return outcome
            if not outcome.failure.kind.fails_over:
                raise _client_error(outcome.failure, target, len(attempts) + 1)
            attempts.append(outcome)
        raise _exhausted(attempts, self.runtime)

    async def _once(
        self, call: ChatCall, target: Target, adapter: Adapter, attempt: int
    ) -> Served | Attempt:
        request = adapter.build_request(call, target)
        try:
            response = await self.runtime.client.post(
                request.url,
                content=request.content,
                headers=request.headers,
                timeout=target.spec.timeout,
            )
        except httpx.TimeoutException:
            return self._note(target, _transport(FailureKind.TIMEOUT), httpx.Headers())
        except httpx.TransportError as exc:
            return self._note(target, _transport(FailureKind.CONNECTION, exc), httpx.Headers())
        if response.status_code >= 300:
            failure = classify(response.status_code, response.content)
            return self._note(target, failure, response.headers)
        try:
            completion = adapter.parse_response(response.content, call, target)
        except MalformedResponse as exc:
            failure = UpstreamFailure(FailureKind.SERVER, response.status_code, str(exc))
            return self._note(target, failure, response.headers)
        log.debug(
            "served: provider=%s model=%s attempts=%d usage=%s",
            target.spec.name,
            target.model,
            attempt,
            completion.usage,
        )
        return Served(completion, target, attempt)

    async def _stream_once(
        self, call: ChatCall, target: Target, adapter: Adapter, attempt: int
    ) -> StreamingResponse | Attempt:
        request = adapter.build_request(call, target)
        client = self.runtime.client
        upstream = client.build_request(
            "POST",
            request.url,
            content=request.content,
            headers=request.headers,
            timeout=target.spec.timeout,
        )
        try:
            response = await client.send(upstream, stream=True)
        except httpx.TimeoutException:
            return self._note(target, _transport(FailureKind.TIMEOUT), httpx.Headers())
        except httpx.TransportError as exc:
            return self._note(target, _transport(FailureKind.CONNECTION, exc), httpx.Headers())
        if response.status_code >= 300:
            try:
                body = await response.aread()
            except httpx.HTTPError:
                body = b""
            finally:
                await response.aclose()
            return self._note(target, classify(response.status_code, body), response.headers)
        translator = adapter.stream_translator(call, target)
        parser = SSEParser()
        reads = response.aiter_raw()
        try:
            first = await _first_frames(reads, parser, translator)
        except httpx.HTTPError as exc:
            await response.aclose()
            kind = FailureKind.TIMEOUT if isinstance(exc, httpx.TimeoutException) else None
            failure = _transport(kind or FailureKind.CONNECTION, exc)
            return self._note(target, failure, response.headers)
        if first is None or translator.error is not None:
            await response.aclose()
            message = translator.error or "the provider closed the stream before any event"
            failure = UpstreamFailure(FailureKind.SERVER, response.status_code, message)
            return self._note(target, failure, response.headers)
        return StreamingResponse(
            _relay(first, reads, parser, translator, response, target),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **_headers(target, attempt)},
        )


def _transport(kind: FailureKind, exc: Exception | None = None) -> UpstreamFailure:
    detail = type(exc).__name__ if exc is not None else "no answer in time"
    return UpstreamFailure(kind, None, f"{kind.value} error ({detail})")


async def _first_frames(
    reads: AsyncIterator[bytes], parser: SSEParser, translator: StreamTranslator
) -> list[bytes] | None:
    """Read until the translator has something for the client; None if the stream ended first."""
    async for chunk in reads:
        frames = [f for event in parser.feed(chunk) for f in translator.feed(event)]
        if frames or translator.error is not None:
            return frames
    frames = [f for event in parser.flush() for f in translator.feed(event)]
    return frames or None


async def _relay(
    first: list[bytes],
    reads: AsyncIterator[bytes],
    parser: SSEParser,
    translator: StreamTranslator,
    response: httpx.Response,
    target: Target,
) -> AsyncIterator[bytes]:
    try:
        yield b"".join(first)
        try:
            async for chunk in reads:
                frames = [f for event in parser.feed(chunk) for f in translator.feed(event)]
                if frames:
                    yield b"".join(frames)
            tail = [f for event in parser.flush() for f in translator.feed(event)]
            yield b"".join([*tail, *translator.finish()])
        except httpx.HTTPError as exc:
            log.warning("stream broke: provider=%s error=%s", target.spec.name, type(exc).__name__)
            message = "the provider's stream broke off"
            translator.error = translator.error or message
            yield UpstreamFailed(message, code="upstream_stream_error").sse()
    finally:
        # Reached by cancellation too when the client leaves: the close must still happen.
        with anyio.CancelScope(shield=True):
            await response.aclose()
        log.debug(
            "streamed: provider=%s model=%s usage=%s error=%s",
            target.spec.name,
            target.model,
            translator.usage,
            translator.error,
        )
