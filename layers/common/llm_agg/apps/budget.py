"""A gateway key's ``tokens_per_day`` held for each request while it is in flight.

Checking only what was already charged let 100 parallel requests on a 100-token key use 1,500:
each saw the day's count at zero. So a request of a key with that limit first holds what it
may use (``limits.keys.reserve_tokens``): its prompt estimate plus its completion cap
(``max_completion_tokens``/``max_tokens``, else ``DEFAULT_COMPLETION``) times ``n``; the hold is
given back once the answer has gone, when its real tokens have been charged by accounting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import AsyncContentStream, Content, Response, StreamingResponse

from llm_agg.api.chat import ChatCall
from llm_agg.apps.auth import store_unavailable
from llm_agg.limits.keys import NOTHING_HELD, Held, release_tokens, reserve_tokens
from llm_agg.routing.classify import estimate_tokens
from llm_agg.runtime import Runtime
from llm_agg.store.base import GatewayKeyRecord, StoreError
from llm_agg.store.nowait import counting

DEFAULT_COMPLETION = 1024  # held for a request that sets no completion cap

Release = Callable[[], None]


def chat_needs(call: ChatCall) -> tuple[int, int]:
    """The tokens a chat request may use at most, and the least it needs (its prompt)."""
    request = call.request
    prompt = estimate_tokens(call)
    cap = request.max_completion_tokens or request.max_tokens or DEFAULT_COMPLETION
    return prompt + cap * (request.n or 1), prompt


async def hold_tokens(
    runtime: Runtime, record: GatewayKeyRecord | None, wanted: int, least: int
) -> Release:
    """Hold the key's tokens (429 when too few are left); the function that gives them back."""
    if record is None or record.tokens_per_day is None:
        return _nothing
    stored = runtime.stored
    counters = stored.stores.counters
    try:
        now = stored.clock()
        held = await counting(
            counters, lambda counters: reserve_tokens(counters, record, wanted, least, now)
        )
    except StoreError:
        raise store_unavailable() from None
    return _releaser(runtime, held)


async def hold_for(runtime: Runtime, request: Request, call: ChatCall) -> Release:
    """``hold_tokens`` for ``call``, by the key ``client_auth`` put on ``request``."""
    # request.state's, read without making the State object (as client_auth wrote it).
    record: GatewayKeyRecord | None = request.scope.get("state", {}).get("gateway_key")
    if record is None or record.tokens_per_day is None:
        return _nothing  # the usual key: nothing to hold, so no need of the request worked out
    return await hold_tokens(runtime, record, *chat_needs(call))


def within_hold(
    release: Release, respond: Callable[[], Awaitable[Response]]
) -> Awaitable[Response]:
    """``respond()``, the hold given back once its response has gone, or at once if it fails.
    Nothing held (the usual key): ``respond()`` itself, with no coroutine of its own around it
    (one less to make, and to pass through each time the request's task resumes)."""
    if release is _nothing:
        return respond()
    return _within(release, respond)


async def _within(release: Release, respond: Callable[[], Awaitable[Response]]) -> Response:
    try:
        response = await respond()
    except BaseException:
        release()
        raise
    return release_after(response, release)


def _nothing() -> None:
    return None


def _releaser(runtime: Runtime, held: Held) -> Release:
    done: list[bool] = []

    def release() -> None:
        if held is NOTHING_HELD or done:
            return
        done.append(True)
        runtime.background.spawn_counting(
            runtime.stored.stores.counters, lambda counters: release_tokens(counters, held)
        )

    return release


def release_after(response: Response, release: Release) -> Response:
    """``response``, giving the tokens back once it has been sent (a stream: once it ends, or
    the client leaves)."""
    if release is _nothing:
        return response  # nothing held: no layer over every chunk of a stream to give it back
    if isinstance(response, StreamingResponse):
        response.body_iterator = _then(response.body_iterator, release)
    else:
        release()  # the answer's tokens were charged when it was counted
    return response


async def _then(body: AsyncContentStream, release: Release) -> AsyncIterator[Content]:
    try:
        async for chunk in body:
            yield chunk
    finally:
        release()
