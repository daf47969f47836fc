"""The dispatcher's chat stream (OpenAI SSE bytes) relayed as a Responses stream.

The dispatcher has already failed over and read the upstream's first event when this starts,
so ``response.created`` goes out only for a stream that is really under way. Its error frame
(``data: {"error": …}``), or a stream that ends without ``[DONE]``, ends this one with
``response.failed``. The response is kept (``on_complete``) before ``response.completed`` is
sent, so a client that continues from it at once finds it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import orjson

from llm_agg.providers.sse import SSEParser
from llm_agg.responses.stream import Event, ResponsesStream, frame

log = logging.getLogger("llm_agg.responses")

OnComplete = Callable[[dict[str, Any]], Awaitable[None]]
BROKEN = "the provider's stream ended before it was complete"


def _frames(events: list[Event]) -> bytes:
    return b"".join(frame(event) for event in events)


def _error_of(chunk: Any) -> str | None:
    if not isinstance(chunk, dict) or "error" not in chunk:
        return None
    error = chunk["error"]
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or "the provider reported an error mid-stream")


async def relay(
    body: AsyncIterable[Any], stream: ResponsesStream, on_complete: OnComplete
) -> AsyncIterator[bytes]:
    parser = SSEParser()
    try:
        yield _frames(stream.start())
        async for piece in body:
            chunk = piece.encode() if isinstance(piece, str) else bytes(piece)
            events: list[Event] = []
            for sse in parser.feed(chunk):
                if sse.data == b"[DONE]":
                    events += stream.close_items()
                    await on_complete(stream.response)
                    events += stream.complete()
                    break
                try:
                    data = orjson.loads(sse.data)
                except orjson.JSONDecodeError:
                    data = {"error": "the provider sent a malformed stream event"}
                error = _error_of(data)
                if error is not None:
                    events += stream.fail(error)
                    break
                events += stream.feed(data)
            if events:
                yield _frames(events)
            if stream.ended:
                return
        yield _frames(stream.fail(BROKEN))
    finally:
        closing = getattr(body, "aclose", None)
        if closing is not None:
            # Ends the dispatcher's relay (the upstream closes, usage is counted), even when
            # the client left and this generator is being cancelled.
            with anyio.CancelScope(shield=True):
                await closing()
