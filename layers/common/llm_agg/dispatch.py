"""Sends a request to its targets in order until one answers, and relays that answer.

Each target is first admitted against its quota (``Accounting.admit``): one out of quota is
skipped without a call. A 429 cools the account until the reset the provider announced; 5xx,
timeouts, connection errors and a key the provider refuses move on to the next target; a fault
of the request itself is returned at once. A stream fails over only before its first event
reaches the client; after that, a failure ends it with an SSE error event. When every target
was out of quota or rate-limited, the client gets a 429 naming who is exhausted until when;
when every one refused the request as too large, a 413.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import anyio
import httpx
import orjson
from starlette.responses import Response, StreamingResponse

from llm_agg.accounting import Blocked, out_of_quota
from llm_agg.api.chat import ChatCall
from llm_agg.api.errors import (
    GatewayError,
    NotFound,
    RateLimited,
    RequestTooLarge,
    UpstreamFailed,
    UpstreamTimeout,
)
from llm_agg.api.wire import check_headers
from llm_agg.limits.quota import Admission
from llm_agg.providers.base import (
    Adapter,
    Completion,
    MalformedResponse,
    StreamTranslator,
    Target,
    Usage,
)
from llm_agg.providers.failures import FailureKind, UpstreamFailure
from llm_agg.providers.scrub import ScrubbedStream, account_secrets, scrub
from llm_agg.providers.sse import SSEParser
from llm_agg.routing.classify import estimate_tokens
from llm_agg.runtime import Runtime

log = logging.getLogger("llm_agg.dispatch")

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
    return scrub(text, account_secrets(target.account))


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


def _exhausted(attempts: list[Attempt], blocked: list[Blocked], runtime: Runtime) -> GatewayError:
    kinds = {a.failure.kind for a in attempts}
    listing = "; ".join(a.describe() for a in attempts)
    if blocked:
        listing += f"; {len(blocked)} more out of quota"
    count = {"x-llm-agg-attempts": str(len(attempts))}
    if not attempts and not blocked:
        return UpstreamFailed("No provider could be tried in time.", headers=count)
    if kinds <= {FailureKind.RATE_LIMITED}:
        cooling = [b for a in attempts if (b := runtime.accounting.blocked(a.target)) is not None]
        if blocked or cooling:
            return out_of_quota([*blocked, *cooling], runtime.clock(), count)
        return RateLimited(f"Every provider is rate-limited: {listing}.", headers=count)
    if kinds == {FailureKind.TIMEOUT}:
        return UpstreamTimeout(f"Every provider timed out: {listing}.", headers=count)
    if kinds == {FailureKind.TOO_LARGE} and not blocked:
        return RequestTooLarge(
            f"Every provider tried refused this request as too large: {listing}. "
            "Shorten the messages, or ask for a model with a larger limit.",
            headers=count,
        )
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


@dataclass(slots=True)
class _Request:
    """One client request on its way through the targets."""

    call: ChatCall
    gateway_key: str | None
    prompt_tokens: int


T = TypeVar("T")
_Once = Callable[[_Request, Target, Adapter, int, Admission], Awaitable[T | Attempt]]


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000


class Dispatcher:
    def __init__(self, runtime: Runtime, adapters: Mapping[str, Adapter] | None = None) -> None:
        self.runtime = runtime
        self.accounting = runtime.accounting
        # One request's own adapters, by provider, in place of the runtime's: /v1/messages
        # sends Anthropic the client's Messages body as it is (bridges/messages_targets.py).
        self.adapters = runtime.adapters if adapters is None else {**runtime.adapters, **adapters}

    def _note(
        self,
        request: _Request,
        target: Target,
        failure: UpstreamFailure,
        headers: httpx.Headers,
        started: float,
        attempt: int,
    ) -> Attempt:
        self.accounting.heard(target, headers)
        self.accounting.failed(target, failure, headers, _ms(started), request.gateway_key, attempt)
        log.warning(
            "attempt failed: provider=%s model=%s account=%s kind=%s status=%s",
            target.spec.name,
            target.model,
            target.account.account_id,
            failure.kind.value,
            failure.status,
        )
        return Attempt(target, failure)

    async def send(
        self, call: ChatCall, targets: list[Target], gateway_key: str | None = None
    ) -> Response:
        """Serve ``call`` as an HTTP response: the answer, or the stream to relay."""
        if call.stream:
            request = _Request(call, gateway_key, estimate_tokens(call))
            return await self._try_each(request, targets, self._stream_once)
        served = await self.complete(call, targets, gateway_key)
        return Response(
            served.completion.body,
            media_type="application/json",
            headers=_headers(served.target, served.attempts),
        )

    async def complete(
        self, call: ChatCall, targets: list[Target], gateway_key: str | None = None
    ) -> Served:
        """The first answer any target gives to a non-streaming ``call``."""
        request = _Request(call, gateway_key, estimate_tokens(call))
        return await self._try_each(request, targets, self._once)

    async def _try_each(self, request: _Request, targets: list[Target], once: _Once[T]) -> T:
        started = time.monotonic()
        settings = self.runtime.settings
        attempts: list[Attempt] = []
        blocked: list[Blocked] = []
        for target in targets:
            if len(attempts) >= settings.max_attempts:
                break
            if time.monotonic() - started > settings.deadline:
                break
            admission = await self.accounting.admit(target, request.prompt_tokens)
            if not admission.ok:
                until = admission.until if admission.until is not None else self.runtime.clock()
                account = target.account.account_id
                blocked.append(
                    Blocked(target.spec.name, target.model, account, until, admission.reason)
                )
                continue
            adapter = self.adapters[target.spec.name]
            outcome = await once(request, target, adapter, len(attempts) + 1, admission)
            if not isinstance(outcome, Attempt):
                return outcome
            if not outcome.failure.kind.fails_over:
                raise _client_error(outcome.failure, target, len(attempts) + 1)
            attempts.append(outcome)
        raise _exhausted(attempts, blocked, self.runtime)

    async def _open(
        self, req: _Request, target: Target, adapter: Adapter, attempt: int
    ) -> tuple[httpx.Response, float] | Attempt:
        """Send the request; the answer with its start time, or the failed attempt. A stream's
        body is left unread unless it failed."""
        started = time.monotonic()
        client = self.runtime.client
        try:
            request = adapter.build_request(req.call, target)
            check_headers(request.headers)
            upstream = client.build_request(
                "POST",
                request.url,
                content=request.content,
                headers=request.headers,
                timeout=target.spec.timeout,
            )
        except (ValueError, TypeError) as exc:
            # A stored header httpx cannot encode, a body orjson cannot write: this account's
            # attempt failed (the next may be built fine), never a 500 for the whole request.
            failure = UpstreamFailure(
                FailureKind.ACCOUNT, None, f"the request could not be built ({type(exc).__name__})"
            )
            return self._note(req, target, failure, httpx.Headers(), started, attempt)
        try:
            response = await client.send(upstream, stream=req.call.stream)
        except httpx.TimeoutException:
            failure = _transport(FailureKind.TIMEOUT)
            return self._note(req, target, failure, httpx.Headers(), started, attempt)
        except httpx.TransportError as exc:
            failure = _transport(FailureKind.CONNECTION, exc)
            return self._note(req, target, failure, httpx.Headers(), started, attempt)
        if response.status_code >= 300:
            try:
                body = await response.aread()
            except httpx.HTTPError:
                body = b""
            finally:
                await response.aclose()
            failure = target.spec.errors(response.status_code, body)
            return self._note(req, target, failure, response.headers, started, attempt)
        return response, started

    async def _once(
        self, req: _Request, target: Target, adapter: Adapter, attempt: int, admission: Admission
    ) -> Served | Attempt:
        call = req.call
        opened = await self._open(req, target, adapter, attempt)
        if isinstance(opened, Attempt):
            return opened
        response, started = opened
        try:
            completion = adapter.parse_response(response.content, call, target)
        except (MalformedResponse, orjson.JSONEncodeError) as exc:
            failure = UpstreamFailure(FailureKind.SERVER, response.status_code, str(exc))
            return self._note(req, target, failure, response.headers, started, attempt)
        self.accounting.heard(target, response.headers)
        self.accounting.served(
            target,
            admission,
            completion.usage,
            _ms(started),
            req.gateway_key,
            req.prompt_tokens,
            attempt=attempt,
        )
        log.debug(
            "served: provider=%s model=%s attempts=%d usage=%s",
            target.spec.name,
            target.model,
            attempt,
            completion.usage,
        )
        return Served(completion, target, attempt)

    async def _stream_once(
        self, req: _Request, target: Target, adapter: Adapter, attempt: int, admission: Admission
    ) -> StreamingResponse | Attempt:
        call = req.call
        opened = await self._open(req, target, adapter, attempt)
        if isinstance(opened, Attempt):
            return opened
        response, started = opened
        translator = ScrubbedStream(
            adapter.stream_translator(call, target), account_secrets(target.account)
        )
        parser = SSEParser()
        reads = response.aiter_raw()
        try:
            first = await _first_frames(reads, parser, translator)
        except httpx.HTTPError as exc:
            await response.aclose()
            kind = FailureKind.TIMEOUT if isinstance(exc, httpx.TimeoutException) else None
            failure = _transport(kind or FailureKind.CONNECTION, exc)
            return self._note(req, target, failure, response.headers, started, attempt)
        if first is None or translator.error is not None:
            await response.aclose()
            message = translator.error or "the provider closed the stream before any event"
            failure = UpstreamFailure(FailureKind.SERVER, response.status_code, message)
            return self._note(req, target, failure, response.headers, started, attempt)
        self.accounting.heard(target, response.headers)
        first_byte = _ms(started)

        def finished(usage: Usage | None, error: str | None) -> None:
            if error is None:
                self.accounting.served(
                    target,
                    admission,
                    usage,
                    _ms(started),
                    req.gateway_key,
                    req.prompt_tokens,
                    first_byte,
                    attempt=attempt,
                )
            else:
                failure = UpstreamFailure(FailureKind.SERVER, None, error)
                self.accounting.failed(
                    target, failure, httpx.Headers(), _ms(started), req.gateway_key, attempt
                )

        return StreamingResponse(
            _relay(first, reads, parser, translator, response, target, finished),
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
    finished: Callable[[Usage | None, str | None], None],
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
        finished(translator.usage, translator.error)
        log.debug(
            "streamed: provider=%s model=%s usage=%s error=%s",
            target.spec.name,
            target.model,
            translator.usage,
            translator.error,
        )
