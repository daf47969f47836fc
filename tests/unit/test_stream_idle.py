"""A relayed stream's idle deadline (``dispatch._events``): no event for ``idle`` seconds ends it
with ``TimeoutError``; bytes that make no event do not count; any other cancellation (the
client leaving) stays a cancellation; and the task is left as it was found."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from llm_agg.dispatch import _events
from llm_agg.providers.sse import SSEEvent, SSEParser

pytestmark = pytest.mark.anyio

EVENT = b"data: {}\n\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Echo:
    """Each event's data, as a frame."""

    usage = None
    error = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        return [event.data]

    def finish(self) -> list[bytes]:
        return []


async def upstream(*steps: bytes | float) -> AsyncIterator[bytes]:
    """Chunks, and pauses (seconds) between them."""
    for step in steps:
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            yield step


async def relayed(reads: AsyncIterator[bytes], idle: float) -> list[bytes]:
    got: list[bytes] = []
    async for frames in _events(reads, SSEParser(), Echo(), idle):
        got.extend(frames)
    return got


async def test_a_stream_of_events_ends_normally_and_leaves_the_task_clean() -> None:
    assert await relayed(upstream(EVENT, 0.05, EVENT, 0.05, EVENT), idle=0.2) == [b"{}"] * 3
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_no_event_for_the_idle_time_is_a_timeout_even_with_bytes_coming() -> None:
    keep_alive = [b": keep-alive\n\n", 0.05] * 40  # 2 s of bytes that make no event
    with anyio.fail_after(5), pytest.raises(TimeoutError):
        await relayed(upstream(EVENT, *keep_alive), idle=0.3)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the timer's cancel was withdrawn


async def test_silence_is_a_timeout() -> None:
    with anyio.fail_after(5), pytest.raises(TimeoutError):
        await relayed(upstream(EVENT, 30.0), idle=0.2)


async def test_events_that_keep_coming_move_the_deadline_on() -> None:
    steps: list[bytes | float] = [EVENT, 0.1] * 8  # 0.8 s in all, never 0.3 s without one
    assert len(await relayed(upstream(*steps), idle=0.3)) == 8


async def test_a_consumer_slower_than_the_idle_time_finds_the_deadline_passed() -> None:
    events = _events(upstream(EVENT, EVENT, 30.0, EVENT), SSEParser(), Echo(), 0.1)
    assert await events.__anext__() == [b"{}"]
    await asyncio.sleep(0.2)  # held up between two reads, longer than the idle time
    assert await events.__anext__() == [b"{}"]  # already there: relayed
    with anyio.fail_after(5), pytest.raises(TimeoutError):
        await events.__anext__()  # waited for: past due, so at once, not 30 s later


async def test_another_cancellation_during_a_read_is_not_turned_into_a_timeout() -> None:
    with anyio.fail_after(5):
        with anyio.CancelScope() as scope:
            asyncio.get_running_loop().call_later(0.1, scope.cancel)
            await relayed(upstream(EVENT, 30.0), idle=10.0)
    assert scope.cancelled_caught
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def timing_out(after: float) -> AsyncIterator[bytes]:
    """An event, then the transport's own read timeout ``after`` seconds later."""
    yield EVENT
    await asyncio.sleep(after)
    raise httpx.ReadTimeout("read timed out")


async def test_the_transports_read_timeout_at_the_idle_deadline_is_the_same_stall() -> None:
    # Both timers are the provider's timeout: whichever fires first, it is a stall.
    with anyio.fail_after(5), pytest.raises(TimeoutError):
        await relayed(timing_out(after=0.2), idle=0.205)  # the transport fires first


async def test_a_read_timeout_well_before_the_idle_deadline_stays_a_broken_stream() -> None:
    with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout):
        await relayed(timing_out(after=0.05), idle=5.0)
