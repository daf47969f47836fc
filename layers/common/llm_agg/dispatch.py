"""Sends a request to its targets until one answers, and relays that answer.

Order: the router's, spread out as faults appear. A provider-level fault (5xx, timeout,
connection, a refused key) sends the next attempt to a provider not yet failing in this
request, before another model of the one that failed; an account-level fault (a refused key)
drops every target of that account; a model-level fault (404, 400 naming the model's limit)
drops that model and tries another. A rate limit cools the account (or parks a spent daily
quota's whole scope); a fault of the request itself is returned at once. The attempt budget
(``Settings.max_attempts``) and the request's deadline (``Settings.deadline``) bound it all.

Each target is first admitted (``Accounting.admit``): one out of quota, cooling down or whose
key was refused is skipped without a call and costs no attempt. Each attempt has a deadline:
the provider's ``timeout`` from connecting to the last byte (to the first event of a stream);
a stream then has that long between two events. A stream fails over only before its first
event reaches the client; after that, a failure ends it with an SSE error event. A client that
goes away cancels the upstream call. When every target refused the request as too large,
the client gets a 413.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from llm_agg.accounting import Blocked, Outcome, out_of_quota
from llm_agg.api.chat import ChatCall
from llm_agg.api.departure import DEPARTURE, Departure
from llm_agg.api.errors import (
    GatewayError,
    NotFound,
    RateLimited,
    RequestTooLarge,
    UpstreamFailed,
    UpstreamTimeout,
)
from llm_agg.api.wire import check_headers
from llm_agg.http_transport.client import UpstreamClient
from llm_agg.http_transport.connection import Body, Reads
from llm_agg.limits.quota import Admission
from llm_agg.memo import IdMemo, Memo
from llm_agg.providers.base import (
    Adapter,
    Completion,
    MalformedResponse,
    StreamTranslator,
    Target,
)
from llm_agg.providers.failures import (
    FailureKind,
    UpstreamFailure,
    broken,
    stalled,
    transport,
)
from llm_agg.providers.openai_compat import StreamRelay
from llm_agg.providers.scrub import ScrubbedStream, account_secrets, scrub
from llm_agg.providers.sse import SSEParser
from llm_agg.routing.classify import measure
from llm_agg.runtime import Runtime

log = logging.getLogger("llm_agg.dispatch")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# The relay's head as Starlette's init_headers writes EventStream's (names lowered, latin-1,
# its media type with a charset last): two of the lines are the same on every stream.
_SSE_LINES = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in SSE_HEADERS.items()]
_SSE_TYPE = (b"content-type", b"text/event-stream; charset=utf-8")
_new = object.__new__
_BYTES = (bytes, memoryview)  # what a body iterator may yield as it is
CLIENT_GONE = 499  # nginx's "client closed request": logged, never seen by anyone


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


def _relay_head(target: Target, attempts: int) -> list[tuple[bytes, bytes]]:
    """The raw headers ``EventStream(..., headers={**SSE_HEADERS, **_headers(...)})`` would
    have: the same list without Starlette's pass over a dict (~1.5 µs a stream), written once
    per target and attempt count (the router keeps its targets: ~4 µs less before a stream's
    first byte, run cold). The gateway's own headers come from ``_headers``, as every other
    answer's do. A list of its own each time: a response's headers may be changed in place."""
    known = _RELAY_HEADS.get((id(target), attempts))
    if known is None:
        ours = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in _headers(target, attempts).items()
        ]
        head = [*_SSE_LINES, *ours, _SSE_TYPE]
        known = _RELAY_HEADS.keep((id(target), attempts), head, target)
    return list(known)


# The relay heads written, by the target's id and the attempt count. Bounded: emptied when full.
_RELAY_HEADS: IdMemo[tuple[int, int], list[tuple[bytes, bytes]]] = IdMemo(256)


def _client_error(failure: UpstreamFailure, target: Target, attempts: int) -> GatewayError:
    return GatewayError(
        _scrub(failure.message, target),
        status=failure.status or 400,
        type=failure.type or "invalid_request_error",
        code=failure.code,
        param=failure.param,
        headers=_headers(target, attempts),
    )


def _refused(attempts: list[Attempt], parked: list[Blocked], count: dict[str, str]) -> GatewayError:
    """Every key the gateway holds for these providers was refused (or has no credits): the
    gateway's configuration, not the client's request nor an outage, so 503 saying what to do."""
    names = sorted({a.target.spec.name for a in attempts} | {b.provider for b in parked})
    credits = any(a.failure.no_credits for a in attempts) or any(
        b.reason.startswith("no credits") for b in parked
    )
    return GatewayError(
        f"The provider keys of {', '.join(names)} were refused"
        f"{' or have no credits' if credits else ''}: check them with "
        "`llm-agg configure` or POST /admin/credentials/{provider}/{account}/check.",
        status=503,
        type="authentication_error",
        code="provider_key_refused",
        headers=count,
    )


def _exhausted(attempts: list[Attempt], blocked: list[Blocked], runtime: Runtime) -> GatewayError:
    kinds = {a.failure.kind for a in attempts}
    parked = [b for b in blocked if b.refused]
    waiting = [b for b in blocked if not b.refused]
    listing = "; ".join(a.describe() for a in attempts)
    if waiting:
        listing += f"; {len(waiting)} more out of quota"
    count = {"x-llm-agg-attempts": str(len(attempts))}
    if not attempts and not blocked:
        return UpstreamFailed("No provider could be tried in time.", headers=count)
    if kinds <= {FailureKind.ACCOUNT} and not waiting:
        return _refused(attempts, parked, count)
    if kinds <= {FailureKind.RATE_LIMITED, FailureKind.ACCOUNT}:
        cooling = [b for a in attempts if (b := runtime.accounting.blocked(a.target)) is not None]
        cooling = [b for b in cooling if not b.refused]
        if waiting or cooling:
            return out_of_quota([*waiting, *cooling], runtime.clock(), count)
        return RateLimited(f"Every provider is rate-limited: {listing}.", headers=count)
    if kinds == {FailureKind.TIMEOUT}:
        return UpstreamTimeout(f"Every provider timed out: {listing}.", headers=count)
    if kinds == {FailureKind.TOO_LARGE} and not blocked:
        return RequestTooLarge(
            f"Every provider tried refused this request as too large: {listing}. "
            "Shorten the messages, or ask for a model with a larger limit.",
            headers=count,
        )
    if kinds <= {FailureKind.NOT_FOUND, FailureKind.MODEL}:
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
    deadline: float  # time.monotonic() by which the last attempt must be over

    def outcome(
        self,
        target: Target,
        attempt: int,
        started: float,
        admission: Admission,
        failure: UpstreamFailure | None = None,
        **facts: Any,
    ) -> Outcome:
        """The record of one attempt that started at ``started`` (time.monotonic())."""
        return Outcome(
            target,
            attempt,
            self.gateway_key,
            self.prompt_tokens,
            _ms(started),
            admission,
            failure=failure,
            **facts,
        )


T = TypeVar("T")
_Once = Callable[[_Request, Target, Adapter, int, Admission], Awaitable[T | Attempt]]


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000


def _limit(req: _Request, target: Target, now: float) -> float:
    """An attempt's deadline in seconds from ``now``: the provider's timeout, within the
    request's."""
    return max(0.0, min(target.spec.timeout, req.deadline - now))


class _Spread:
    """The targets still to try, and what this request's failures say of them."""

    def __init__(self, targets: list[Target], held: Callable[[Target], bool]) -> None:
        self.pending = list(targets)
        self.held = held  # whether a circuit holds the target's account (or provider) back
        self.sick: dict[str, int] = {}  # provider → provider-level faults in this request
        self.sick_accounts: dict[tuple[str, str], int] = {}
        self.dead: set[tuple[str, str]] = set()  # accounts whose key was refused
        self.gone: set[tuple[str, str]] = set()  # (provider, model) that cannot take it

    def next(self) -> Target | None:
        """The next target: the router's order, but a provider or account that failed in
        this request only after those that have not."""
        if not (self.sick or self.sick_accounts or self.dead or self.gone):
            # Nothing failed yet (every request's first target): none is skipped or ranked
            # down, so the ranking below picks the first, without its loop.
            return self.pending.pop(0) if self.pending else None
        best: tuple[tuple[int, int, int], Target] | None = None
        for index, t in enumerate(self.pending):
            account = (t.spec.name, t.account.account_id)
            if account in self.dead or (t.spec.name, t.model) in self.gone:
                continue
            rank = (self.sick.get(t.spec.name, 0), self.sick_accounts.get(account, 0), index)
            if best is None or rank < best[0]:
                best = (rank, t)
        if best is None:
            return None
        self.pending.remove(best[1])
        return best[1]

    def failed(self, target: Target, failure: UpstreamFailure) -> None:
        provider, account = target.spec.name, (target.spec.name, target.account.account_id)
        kind = failure.kind
        if kind is FailureKind.ACCOUNT or (kind.provider_level and self.held(target)):
            # A refused key, or a circuit this failure has (or had) opened: no more of this
            # account in this request, so a provider that is down costs one attempt, not six.
            self.dead.add(account)
        if kind.provider_level:
            self.sick[provider] = self.sick.get(provider, 0) + 1
            self.sick_accounts[account] = self.sick_accounts.get(account, 0) + 1
        elif kind.model_level:
            self.gone.add((provider, target.model))
        elif kind is FailureKind.TOO_LARGE:
            # Too large for any of its models: every account of this provider is done with.
            self.gone.update((provider, t.model) for t in self.pending if t.spec.name == provider)
        elif kind is FailureKind.RATE_LIMITED:
            self.sick_accounts[account] = self.sick_accounts.get(account, 0) + 1


class _Cancel:
    """A one-shot ``Task.cancel`` of the task that made it, told apart from any other, while
    it is ``active``: an attempt's deadline, and the client-gone cancel of the dispatch and
    then of the stream's relay, in place of an anyio cancel scope each (together ~25 µs of
    CPU on the way to a stream's first byte, issue 17).

    Unlike a scope it cancels once rather than at every later await, and no anyio shield
    holds it back: what it guards lets ``CancelledError`` through (dispatch, the transport,
    the store's counting, the relay and the endpoints' layers over it), and the closes there
    that must not be cut short (an upstream answer's, ``_close``) hold the client's cancel
    while they run (``_Watch.held``)."""

    __slots__ = ("_cancelling", "_task", "active", "fired")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        # With the running ``loop`` given, its task is looked up without asking asyncio for
        # the loop: that is a getpid() system call on Python 3.11.
        task = asyncio.current_task(loop)
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()  # cancels already pending are not this one's
        self.active = True
        self.fired = False

    def cancel(self) -> None:
        if self.fired or not self.active:
            return
        if self._task is asyncio.current_task():
            # Never the running task's own: asyncio would deliver it at its next await,
            # wherever that is by then. On the loop's next turn the task waits inside (the
            # cancel lands there), or has left (nothing to cancel any more).
            asyncio.get_running_loop().call_soon(self.cancel)
            return
        self.fired = True
        self._task.cancel()

    def caught(self) -> bool:
        """On ``CancelledError``: whether this cancel alone raised it (withdrawn then, the error
        is the caller's to turn into its outcome); False when the task is also cancelled from
        elsewhere (or this never fired): the error goes on."""
        if not self.fired:
            return False
        self.fired = False
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        """The guarded work is over: nothing is cancelled from now on."""
        self.active = False
        if self.fired:  # its CancelledError was swallowed on the way: withdrawn all the same
            self.caught()


class _Deadline(_Cancel):
    """``_Cancel`` at ``seconds`` from now."""

    __slots__ = ("_timer",)

    def __init__(self, seconds: float) -> None:
        super().__init__()
        # The task's loop, the running one: asking asyncio for it is a getpid() on 3.11.
        self._timer = self._task.get_loop().call_later(seconds, self.cancel)

    def close(self) -> None:
        self._timer.cancel()
        self.active = False  # _Cancel.close, without the call up (run on every attempt)
        if self.fired:
            self.caught()


class _Watch:
    """What learns that the client of one request went away, then cancels what is under way
    for it (``target``): the dispatch (its upstream call), then, handed over with the request's
    scope, the ``EventStream`` relaying the answer. Told by the server itself when it can be
    (``api/departure.py``: the local server), with no task at all; else one task waiting on
    ``receive`` (Mangum, test transports). One task and never a task group: ~15 µs a request
    against ~90; one for both, not one each."""

    __slots__ = ("_departure", "_target", "_task", "gone", "held", "loop")

    def __init__(self, receive: Receive, scope: Scope | None = None) -> None:
        self._target: Callable[[], None] | None = None
        self.gone = False
        # Closes under way that a cancel would cut short: it fires after the last. A count:
        # a relay finalized after its request (in whatever context) may close meanwhile.
        self.held = 0
        self.loop = asyncio.get_running_loop()  # the request's, for its _Cancel's
        departure: Departure | None = None if scope is None else scope.get(DEPARTURE)
        self._departure = departure
        if departure is None:
            self._task: asyncio.Task[None] | None = self.loop.create_task(self._watch(receive))
            return
        # The server calls it when the client goes; it holds the watch until ``stop``.
        self._task = None
        departure.on_gone = self._left
        self.gone = departure.gone

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._left()

    def _left(self) -> None:
        self.gone = True
        if self.held == 0:
            self._fire()

    def _fire(self) -> None:
        target, self._target = self._target, None
        if target is not None:
            log.info("client went away: the upstream call is cancelled")
            target()

    def target(self, cancel: Callable[[], None] | None) -> None:
        """What the client's going away cancels from now on (None: nothing for now); at once
        when it is gone already."""
        self._target = cancel
        if self.gone and self.held == 0:
            self._fire()

    def hold(self) -> None:
        self.held += 1

    def release(self) -> None:
        """A held close is over: after the last, a cancel that came meanwhile fires now."""
        self.held -= 1
        if self.gone and self.held == 0:
            self._fire()

    def stop(self) -> None:
        """No more watching. The server's hook is let go of (unless another watch of the
        connection holds it by now), and so is the task: cancelled, it ends holding its
        CancelledError, whose traceback holds its frame, which holds this watch; had the
        watch still held the task, each request's task, watch and uvicorn cycle (its scope,
        headers, event: ~30 objects) would wait for the garbage collector, whose young
        collection then came every ~14 requests (~150 µs each on a cold vCPU, issue 17)."""
        self._target = None
        departure, self._departure = self._departure, None
        if departure is not None and departure.on_gone == self._left:
            departure.on_gone = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()


_WATCH = "llm_agg.watch"  # the request scope's key for its _Watch, from dispatch to EventStream
# The watch whose cancel is under way in this task (dispatch's, then the EventStream's): the one
# a close holds back.
_WATCHING: ContextVar[_Watch | None] = ContextVar("llm_agg_watching", default=None)


class EventStream(StreamingResponse):
    """A stream of server-sent events, stopped when the client leaves: its body iterator is
    then cancelled (closing the upstream stream) as Starlette's ``StreamingResponse`` does,
    but by one plain task watching ``receive`` instead of a task group per response (the
    dispatcher's, handed over in the request's scope, or a new one), cancelling with a
    ``_Cancel`` rather than an anyio scope."""

    media_type = "text/event-stream"
    # The relay it was headed for, and the whole stream of it it was given (``headed``). The
    # relay holds neither: a stream and its relay make no reference cycle (each would wait for
    # the garbage collector).
    _relay: _Relay | None = None
    _whole: AsyncIterator[bytes] | None = None

    @classmethod
    def headed(cls, relay: _Relay, raw_headers: list[tuple[bytes, bytes]]) -> EventStream:
        """A 200 stream of ``relay`` whose head is already in raw form: what ``__init__``
        leaves, without its encoding the headers again (tests/unit/test_relay_head holds the
        two alike)."""
        stream = cls.__new__(cls)
        stream.body_iterator = stream._whole = relay.stream(first_sent=False)  # not started
        stream.status_code = 200
        stream.media_type = cls.media_type
        stream.background = None
        stream.raw_headers = raw_headers
        stream._relay = relay
        return stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        watch: _Watch | None = scope.pop(_WATCH, None)
        if watch is None:
            watch = _Watch(receive, scope)
        cancel = _Cancel(watch.loop)
        watch.target(cancel.cancel)
        watching = _WATCHING.set(watch)
        body = self.body_iterator
        relay = self._relay
        if relay is not None and body is not self._whole:
            relay = None  # wrapped by a layer above: it reads the whole stream
        try:
            # Starlette's stream_response, in this frame: one coroutine less to suspend and
            # resume at every read of the upstream's stream, before the first byte too.
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if relay is not None:
                # The first frames, before the relay's stream starts (see ``_Relay``).
                await send({"type": "http.response.body", "body": relay.first, "more_body": True})
                body = relay.stream(first_sent=True)
            async for chunk in body:
                if not isinstance(chunk, _BYTES):  # (a | of types makes a union each time)
                    chunk = chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # an ASGI 2.4 server's way of saying the client is gone
            raise ClientDisconnect() from None
        except asyncio.CancelledError:
            if not cancel.caught():
                raise
        finally:
            if relay is not None and not relay.began:
                await relay.abandon()  # its stream never started: its end is owed here
            _WATCHING.reset(watching)
            watch.stop()
            cancel.close()
        if self.background is not None:
            await self.background()


class Dispatcher:
    """Sends requests for one runtime. It keeps nothing of a request (each has its
    ``_Request``): the chat endpoint makes one for all of its requests."""

    def __init__(self, runtime: Runtime, adapters: Mapping[str, Adapter] | None = None) -> None:
        self.runtime = runtime
        self.accounting = runtime.accounting
        # One request's own adapters, by provider, in place of the runtime's: /v1/messages
        # sends Anthropic the client's Messages body as it is (bridges/messages_targets.py).
        self.adapters = runtime.adapters if adapters is None else {**runtime.adapters, **adapters}

    def _note(
        self,
        req: _Request,
        target: Target,
        failure: UpstreamFailure,
        headers: httpx.Headers,
        started: float,
        attempt: int,
        admission: Admission,
    ) -> Attempt:
        self.accounting.heard(target, headers)
        self.accounting.settle(
            req.outcome(target, attempt, started, admission, failure, headers=headers)
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

    def _request(self, call: ChatCall, gateway_key: str | None) -> _Request:
        """``_Request(call, gateway_key, tokens, deadline)`` without the dataclass's generated
        ``__init__``: one function less on every request's way, paid cold after a stream
        (issue 17; tests/unit/test_dispatch_request.py holds the two alike)."""
        req: _Request = _new(_Request)
        req.call = call
        req.gateway_key = gateway_key
        req.prompt_tokens = measure(call)[0]  # what parse_chat's plain path measured, if it did
        req.deadline = time.monotonic() + self.runtime.settings.deadline
        return req

    async def send(
        self,
        call: ChatCall,
        targets: list[Target],
        gateway_key: str | None = None,
        *,
        request: Request | None = None,
    ) -> Response:
        """Serve ``call`` as an HTTP response: the answer, or the stream to relay. With the
        client's ``request``, its disconnecting cancels the upstream call."""
        # ``request.receive`` without the property's frame (run cold, before a stream's first byte).
        watch = None if request is None else _Watch(request._receive, request.scope)
        stream = call.request.stream
        if stream:
            work: Awaitable[StreamingResponse | Served] = self._try_each(
                self._request(call, gateway_key), targets, self._stream_once
            )
        else:
            work = self.complete(call, targets, gateway_key)
        if watch is None:
            answer = await work
        else:
            # The client's going cancels the work (its upstream call with it) as a 499. Written
            # here rather than as a coroutine around the work: one less to make, and to pass
            # through at each of the task's resumptions before a stream's first byte (issue 17).
            cancel = _Cancel(watch.loop)
            watch.target(cancel.cancel)
            watching = _WATCHING.set(watch)
            try:
                try:
                    answer = await work
                except asyncio.CancelledError:
                    if cancel.caught():
                        raise GatewayError(
                            "The client closed the request.", status=CLIENT_GONE
                        ) from None
                    raise
                finally:
                    _WATCHING.reset(watching)
                    watch._target = None  # ``target(None)``: nothing to fire
                    cancel.close()
            except BaseException:
                watch.stop()
                raise
        if not isinstance(answer, Served):
            if request is not None:
                # The same watch goes on for the EventStream that relays the answer.
                request.scope[_WATCH] = watch
            return answer
        if watch is not None:
            watch.stop()
        return Response(
            answer.completion.body,
            media_type="application/json",
            headers=_headers(answer.target, answer.attempts),
        )

    async def complete(
        self, call: ChatCall, targets: list[Target], gateway_key: str | None = None
    ) -> Served:
        """The first answer any target gives to a non-streaming ``call``."""
        return await self._try_each(self._request(call, gateway_key), targets, self._once)

    async def _try_each(self, req: _Request, targets: list[Target], once: _Once[T]) -> T:
        budget = self.runtime.max_attempts
        attempts: list[Attempt] = []
        blocked: list[Blocked] = []
        # Until an attempt fails the order is the router's (``_Spread.next`` ranks nothing):
        # the targets are taken as they come, and the spread is made at the first failure,
        # from those not taken yet (most requests never fail: no spread, its four tables and
        # its check made for them, issue 17).
        spread: _Spread | None = None
        taken = 0
        while len(attempts) < budget and time.monotonic() < req.deadline:
            if spread is None:
                if taken == len(targets):
                    break
                target = targets[taken]
                taken += 1
            else:
                found = spread.next()
                if found is None:
                    break
                target = found
            admission = await self.accounting.admit(target, req.prompt_tokens)
            if not admission.ok:
                blocked.append(self._blocked(target, admission))
                continue
            adapter = self.adapters[target.spec.name]
            outcome = await once(req, target, adapter, len(attempts) + 1, admission)
            if not isinstance(outcome, Attempt):
                return outcome
            if not outcome.failure.kind.fails_over:
                raise _client_error(outcome.failure, target, len(attempts) + 1)
            attempts.append(outcome)
            if spread is None:
                spread = self._spread(targets[taken:])
            spread.failed(target, outcome.failure)
        raise _exhausted(attempts, blocked, self.runtime)

    def _spread(self, pending: list[Target]) -> _Spread:
        circuits = self.accounting.circuits
        return _Spread(
            pending, lambda t: circuits.blocking(t.spec.name, t.account.account_id) is not None
        )

    def _blocked(self, target: Target, admission: Admission) -> Blocked:
        known = self.accounting.blocked(target)
        if known is not None and known.refused:
            return known
        until = admission.until if admission.until is not None else self.runtime.clock()
        account = target.account.account_id
        return Blocked(target.spec.name, target.model, account, until, admission.reason)

    async def _open(
        self, req: _Request, target: Target, adapter: Adapter, attempt: int, admission: Admission
    ) -> tuple[httpx.Response, float] | Attempt:
        """Send the request; the answer with its start time, or the failed attempt. The
        caller holds the attempt's deadline. A stream's body is left unread unless it failed."""
        started = time.monotonic()
        client = self.runtime.client
        try:
            request = adapter.build_request(req.call, target)
            headers = request.headers
            if not request.checked:  # (an OpenAI-compatible provider's are, once per account)
                _check_headers(headers)
            origin = request.origin
            if origin is not None and type(client) is UpstreamClient:
                # Its template found by the adapter's origin, not by every header's value.
                upstream = client.build_known(
                    origin, request.url, request.content, headers, target.spec.timeout
                )
            else:
                upstream = client.build_request(
                    "POST",
                    request.url,
                    content=request.content,
                    headers=headers,
                    timeout=target.spec.timeout,
                )
        except (ValueError, TypeError) as exc:
            # A stored header httpx cannot encode, a body orjson cannot write: this account's
            # attempt failed (the next may be built fine), never a 500 for the whole request.
            failure = UpstreamFailure(
                FailureKind.ACCOUNT,
                None,
                f"the request could not be built ({type(exc).__name__})",
                reached=False,
            )
            return self._note(req, target, failure, httpx.Headers(), started, attempt, admission)
        try:
            # ``call.stream`` read without the property's frame: run cold, before the first byte.
            response = await client.send(upstream, stream=bool(req.call.request.stream))
        except httpx.ConnectTimeout as exc:
            failure = transport(FailureKind.TIMEOUT, exc, reached=False)
            return self._note(req, target, failure, httpx.Headers(), started, attempt, admission)
        except httpx.ConnectError as exc:
            failure = transport(FailureKind.CONNECTION, exc, reached=False)
            return self._note(req, target, failure, httpx.Headers(), started, attempt, admission)
        except httpx.TimeoutException as exc:
            failure = transport(FailureKind.TIMEOUT, exc)
            return self._note(req, target, failure, httpx.Headers(), started, attempt, admission)
        except httpx.TransportError as exc:
            failure = transport(FailureKind.CONNECTION, exc)
            return self._note(req, target, failure, httpx.Headers(), started, attempt, admission)
        if response.status_code >= 300:
            try:
                body = await response.aread()
            except httpx.HTTPError:
                body = b""
            finally:
                await response.aclose()
            failure = target.spec.errors(response.status_code, body)
            return self._note(req, target, failure, response.headers, started, attempt, admission)
        return response, started

    async def _once(
        self, req: _Request, target: Target, adapter: Adapter, attempt: int, admission: Admission
    ) -> Served | Attempt:
        call = req.call
        started = time.monotonic()
        limit = _limit(req, target, started)
        deadline = _Deadline(limit)
        try:
            opened = await self._open(req, target, adapter, attempt, admission)
        except asyncio.CancelledError:
            if not deadline.caught():
                raise
            opened = None
        finally:
            deadline.close()
        if opened is None:
            # Connected but the body never finished: a trickle of bytes (keep-alive spaces)
            # must not hold the request for ever.
            failure = stalled("the whole answer", limit)
            return self._note(req, target, failure, httpx.Headers(), started, attempt, admission)
        if isinstance(opened, Attempt):
            return opened
        response, started = opened
        try:
            completion = adapter.parse_response(response.content, call, target)
        except (MalformedResponse, orjson.JSONEncodeError) as exc:
            failure = broken(str(exc), response.status_code)
            return self._note(req, target, failure, response.headers, started, attempt, admission)
        self.accounting.heard(target, response.headers)
        self.accounting.settle(
            req.outcome(target, attempt, started, admission, usage=completion.usage)
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
        started = time.monotonic()
        limit = _limit(req, target, started)
        inner = adapter.stream_translator(call, target)
        translator: StreamTranslator = inner
        if type(inner) is not StreamRelay or not inner.scrubbed:  # (a relay scrubs its own)
            translator = ScrubbedStream(inner, target.account)
        parser = SSEParser()
        first: list[bytes] | None = None
        response: httpx.Response | None = None
        timed_out = False
        deadline = _Deadline(limit)
        try:
            opened = await self._open(req, target, adapter, attempt, admission)
            if isinstance(opened, Attempt):
                return opened
            response, started = opened
            # httpx offers gzip/deflate: a provider that compresses its stream is decoded
            # (raw bytes otherwise, without the decoder's per-chunk layer). Our transport's
            # answer says itself whether it is encoded (its headers not looked through).
            stream = response.stream
            reads: AsyncIterator[bytes]
            if type(stream) is Body:
                reads = response.aiter_bytes() if stream.encoded else Reads(response)
            elif _has(response.headers, b"content-encoding"):
                reads = response.aiter_bytes()
            else:
                reads = _pieces(response)
            first = await _first_frames(reads, parser, translator)
        except asyncio.CancelledError:
            if not deadline.caught():
                raise
            timed_out = True
        except httpx.HTTPError as exc:
            kind = FailureKind.TIMEOUT if isinstance(exc, httpx.TimeoutException) else None
            failure = transport(kind or FailureKind.CONNECTION, exc)
            headers = response.headers if response is not None else httpx.Headers()
            return self._note(req, target, failure, headers, started, attempt, admission)
        finally:
            deadline.close()
            # Scrubbed (the property) only when there is one: none on nearly every stream.
            error = None if inner.error is None else translator.error
            # A failure, a stall or the client leaving: the upstream connection is let go.
            if response is not None and (first is None or error is not None):
                await _close(response)
        if timed_out or response is None:
            failure = stalled("a first event", limit)
            return self._note(req, target, failure, httpx.Headers(), started, attempt, admission)
        if first is None or error is not None:
            message = error or "the provider closed the stream before any event"
            failure = broken(message, response.status_code)
            return self._note(req, target, failure, response.headers, started, attempt, admission)
        first_byte = _ms(started)

        def finished(failure: UpstreamFailure | None) -> None:
            self.accounting.settle(
                req.outcome(
                    target,
                    attempt,
                    started,
                    admission,
                    failure,
                    usage=translator.usage,
                    first_byte_ms=first_byte,
                )
            )

        relay = _Relay(
            b"".join(first),
            reads,
            response,
            parser,
            translator,
            target,
            self.accounting.heard,
            finished,
        )
        return EventStream.headed(relay, _relay_head(target, attempt))


# Sets of headers ``check_headers`` passed, by value: an account's are the same on each of its
# requests (~1 µs a request). Bounded: emptied when full.
_SENDABLE: Memo[tuple[tuple[str, str], ...], None] = Memo(256)


def _check_headers(headers: Mapping[str, str]) -> None:
    """``check_headers``, once per set of headers."""
    try:
        key = tuple(headers.items())
        if key in _SENDABLE:
            return
    except TypeError:  # a value that cannot be hashed: check_headers says what is wrong
        check_headers(headers)
        return
    check_headers(headers)
    _SENDABLE.keep(key, None)


def _has(headers: httpx.Headers, name: bytes) -> bool:
    """``name`` (lower case) in ``headers``: without the decoding of every header and the
    ``KeyError`` that ``name in headers`` costs when it is not (~0.9 µs before a stream's
    first byte). httpx keeps (name, lowered name, value) in ``_list``."""
    for _, lowered, _ in headers._list:  # noqa: SIM110 - a generator is one frame more
        if lowered == name:
            return True
    return False


async def _pieces(response: httpx.Response) -> AsyncIterator[bytes]:
    """``response.aiter_raw()`` of an answer not of our transport (whose own is
    ``connection.Reads``): the same pieces (an empty one skipped), the same refusals, a
    transport error naming the request, the answer closed at its end; without httpx's chunker
    and the generator-made context manager around its reads (~2 µs before the first byte,
    and some on every piece after). Held to httpx's by tests/unit/test_relay_head.py."""
    if response.is_stream_consumed:
        raise httpx.StreamConsumed()
    if response.is_closed:
        raise httpx.StreamClosed()
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise RuntimeError("Attempted to call an async iterator on an sync stream.")
    response.is_stream_consumed = True
    response._num_bytes_downloaded = 0
    try:
        async for piece in stream:
            response._num_bytes_downloaded += len(piece)
            if piece:
                yield piece
    except httpx.RequestError as exc:
        if response._request is not None:
            exc.request = response._request
        raise
    await response.aclose()


async def _close(response: httpx.Response) -> None:
    """Close ``response`` whole, even when the client leaves (its cancel waits: ``_Watch.held``)
    or an anyio scope around is cancelled (shielded). The answer of our own transport closes
    without ever waiting, so nothing can cut its close short: it goes without the shield (an
    anyio scope is ~4 µs at the end of every stream)."""
    if type(response.stream) is Body:
        await response.aclose()
        return
    watch = _WATCHING.get()
    if watch is not None:
        watch.hold()
    try:
        with anyio.CancelScope(shield=True):
            await response.aclose()
    finally:
        if watch is not None:
            watch.release()


async def _first_frames(
    reads: AsyncIterator[bytes], parser: SSEParser, translator: StreamTranslator
) -> list[bytes] | None:
    """Read until the translator has something for the client; None if the stream ended first."""
    while True:  # async for, without the iterator's __aiter__ call
        try:
            chunk = await reads.__anext__()
        except StopAsyncIteration:
            break
        events = parser.feed(chunk)
        if len(events) == 1:  # the usual read: without the comprehension's frame
            frames = translator.feed(events[0])
        else:
            frames = [f for event in events for f in translator.feed(event)]
        if frames or translator.error is not None:
            return frames
    frames = [f for event in parser.flush() for f in translator.feed(event)]
    return frames or None


_TIMER_SLACK = 0.01  # seconds: uvloop's timers round to the millisecond


class _Idle:
    """A stream's idle deadline: ``read`` raises ``TimeoutError`` once no event has come for
    ``idle`` seconds. One timer a stream, moved on lazily (when it fires early it re-arms for
    the deadline as it now stands), in place of a cancel scope around every read (~17 µs each,
    on streams of hundreds of reads). It cancels the task only while it waits on a read."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.last_event = time.monotonic()  # the event loop's clock too
        # Asked once a stream: asyncio's own lookup of the running loop is a getpid() system
        # call on Python 3.11, at every read otherwise.
        self._loop = asyncio.get_running_loop()
        self._reading: asyncio.Task[Any] | None = None
        self._fired = False
        self._timer: asyncio.TimerHandle | None = None

    def heard(self) -> None:
        """An event came: the deadline moves on."""
        self.last_event = time.monotonic()

    def _check(self) -> None:
        self._timer = None
        if self._reading is None:
            return  # between reads: the next one arms it again
        due = self.last_event + self.idle
        if time.monotonic() < due:
            self._timer = self._loop.call_at(due, self._check)
            return
        self._fired = True
        self._reading.cancel()

    async def read(self, reads: AsyncIterator[bytes]) -> bytes:
        """The next chunk; ``StopAsyncIteration`` at the end, ``TimeoutError`` when idle."""
        task = asyncio.current_task(self._loop)
        assert task is not None
        if self._timer is None:  # past due (the client was slow): fires if the read waits
            due = self.last_event + self.idle
            self._timer = self._loop.call_at(due, self._check)
        self._reading = task
        try:
            return await reads.__anext__()
        except asyncio.CancelledError:
            if not self._fired:
                raise
            self._fired = False
            if task.uncancel() > 0:
                raise  # cancelled from elsewhere too (the client left): not a timeout
            raise TimeoutError from None
        except httpx.TimeoutException:
            # The transport's read timeout is the provider's timeout too, counted from the
            # read's start: when it and this deadline come due together (the timers are a
            # millisecond apart), the silence is still this stall, not a broken stream.
            if time.monotonic() >= self.last_event + self.idle - _TIMER_SLACK:
                raise TimeoutError from None
            raise
        finally:
            self._reading = None
            if self._fired:  # the read swallowed the cancel it caused: withdrawn
                self._fired = False
                task.uncancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _events(
    reads: AsyncIterator[bytes], parser: SSEParser, translator: StreamTranslator, idle: float
) -> AsyncIterator[list[bytes]]:
    """The frames for the client as they come; ``TimeoutError`` when no event arrives for
    ``idle`` seconds (bytes that make no event, such as keep-alive comments, do not count)."""
    deadline = _Idle(idle)
    try:
        while True:
            try:
                chunk = await deadline.read(reads)
            except StopAsyncIteration:
                break
            events = parser.feed(chunk)
            if events:
                deadline.heard()
            frames = [f for event in events for f in translator.feed(event)]
            if frames:
                yield frames
    finally:
        deadline.close()
    yield [f for event in parser.flush() for f in translator.feed(event)]


class _Relay:
    """A stream's relay once its first frames are known: what ``EventStream`` sends.

    ``stream`` is the stream for the client, from its ``first`` frames on. An ``EventStream``
    whose body is still that stream (no layer above has wrapped it) sends ``first`` itself,
    right after the head, and only then starts the rest (``stream(first_sent=True)``): the
    async generator's first step (its registration with the event loop, its frame) is paid
    after the first byte, not before it (issue 17). If it never gets to start the rest (the
    client left, a send failed), it ``abandon``s the relay: what the stream's end does."""

    __slots__ = (
        "began",
        "finished",
        "first",
        "heard",
        "parser",
        "reads",
        "response",
        "target",
        "translator",
    )

    def __init__(
        self,
        first: bytes,
        reads: AsyncIterator[bytes],
        response: httpx.Response,
        parser: SSEParser,
        translator: StreamTranslator,
        target: Target,
        heard: Callable[[Target, httpx.Headers], None],
        finished: Callable[[UpstreamFailure | None], None],
    ) -> None:
        self.first = first
        self.reads = reads
        self.response = response
        self.parser = parser
        self.translator = translator
        self.target = target
        self.heard = heard
        self.finished = finished
        self.began = False  # a stream of it has started (its end is then that stream's)

    async def stream(self, first_sent: bool) -> AsyncIterator[bytes]:
        """The stream for the client, with its first frames unless they were sent already.
        The answer's rate-limit headers are ``heard`` once the first frames are out (~3 µs of
        reading them less before each stream's first byte), or at the end if the client never
        asks for more."""
        self.began = True
        translator, target = self.translator, self.target
        failure: UpstreamFailure | None = None
        told = first_sent
        try:
            if not told:
                yield self.first
                told = True
            self.heard(target, self.response.headers)
            try:
                async for frames in _events(
                    self.reads, self.parser, translator, target.spec.timeout
                ):
                    if frames:
                        yield b"".join(frames)
                yield b"".join(translator.finish())
            except TimeoutError:
                log.warning("stream stalled: provider=%s", target.spec.name)
                failure = stalled("the next event", target.spec.timeout)
                translator.error = translator.error or failure.message
                yield UpstreamTimeout(
                    f"{target.spec.name} sent no event for {target.spec.timeout:g}s.",
                    code="upstream_stream_stalled",
                ).sse()
            except httpx.HTTPError as exc:
                log.warning(
                    "stream broke: provider=%s error=%s", target.spec.name, type(exc).__name__
                )
                message = "the provider's stream broke off"
                translator.error = translator.error or message
                yield UpstreamFailed(message, code="upstream_stream_error").sse()
        finally:
            # Reached by cancellation too when the client leaves: the close must still happen.
            await self._end(told, failure)

    async def abandon(self) -> None:
        """The end of a relay whose rest never started (its first frames may have gone out):
        the upstream answer closed, its headers heard, the attempt settled."""
        if not self.began:
            self.began = True
            await self._end(False, None)

    async def _end(self, told: bool, failure: UpstreamFailure | None) -> None:
        translator = self.translator
        await _close(self.response)
        if not told:
            self.heard(self.target, self.response.headers)
        if failure is None and translator.error is not None:
            failure = broken(translator.error)
        self.finished(failure)
        log.debug(
            "streamed: provider=%s model=%s usage=%s error=%s",
            self.target.spec.name,
            self.target.model,
            translator.usage,
            translator.error,
        )
