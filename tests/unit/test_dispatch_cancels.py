"""The dispatch path's cancels (``dispatch._Deadline``, ``Dispatcher.send``'s guard with its
``_Watch``):
one-shot ``Task.cancel`` in place of anyio cancel scopes. Each must cancel only what it guards,
tell its own cancel from any other (an anyio scope's, a native one), never leave a cancel behind
for a later await, and hold the client's cancel while a close runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from llm_agg.api.departure import DEPARTURE
from llm_agg.api.errors import GatewayError
from llm_agg.dispatch import (
    _WATCH,
    CLIENT_GONE,
    EventStream,
    _close,
    _Deadline,
    _Watch,
)
from llm_agg.http_transport.connection import Body
from tests.support.dispatching import streamed

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def cancelling() -> int:
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


async def guarded(seconds: float, work: float) -> bool:
    """Whether ``work`` seconds of waiting ran past a deadline of ``seconds``."""
    deadline = _Deadline(seconds)
    try:
        await asyncio.sleep(work)
    except asyncio.CancelledError:
        if not deadline.caught():
            raise
        return True
    finally:
        deadline.close()
    return False


async def test_a_deadline_cuts_the_wait_short_and_leaves_the_task_clean() -> None:
    with anyio.fail_after(5):
        assert await guarded(0.01, 10) is True
    assert cancelling() == 0
    await asyncio.sleep(0.02)  # no cancel left behind for a later await


async def test_work_done_in_time_is_not_cancelled_then_or_later() -> None:
    assert await guarded(0.05, 0) is False
    await asyncio.sleep(0.1)  # past the deadline: its timer is gone
    assert cancelling() == 0


async def test_a_deadline_whose_cancel_was_swallowed_is_withdrawn_all_the_same() -> None:
    deadline = _Deadline(0.01)
    try:
        # Code that swallows a cancel: the work goes on and ends normally.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
    finally:
        deadline.close()
    assert cancelling() == 0


async def test_another_cancel_in_the_same_turn_is_not_taken_for_the_deadline() -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    deadline = _Deadline(0.01)
    loop.call_at(deadline._timer.when(), task.cancel)  # a native cancel, due with the deadline
    with pytest.raises(asyncio.CancelledError):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            assert not deadline.caught()
            raise
        finally:
            deadline.close()
    assert task.uncancel() == 0  # only the other cancel was left pending


async def test_an_anyio_scope_cancelled_around_a_deadline_is_the_scope_s() -> None:
    with anyio.CancelScope() as scope:
        asyncio.get_running_loop().call_later(0.01, scope.cancel)
        await guarded(5, 10)
    assert scope.cancelled_caught
    assert cancelling() == 0


async def test_a_deadline_inside_an_anyio_deadline_keeps_each_its_own() -> None:
    with anyio.move_on_after(5) as scope:
        assert await guarded(0.01, 10) is True
        await asyncio.sleep(0)
    assert not scope.cancelled_caught
    with anyio.move_on_after(0.01) as scope:
        assert await guarded(5, 10) is False
    assert scope.cancelled_caught
    assert cancelling() == 0


class Client:
    """``receive`` as uvicorn's after the body: nothing until ``leave()``."""

    def __init__(self) -> None:
        self._gone = asyncio.Event()

    def leave(self) -> None:
        self._gone.set()

    async def receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}


async def never() -> dict[str, Any]:
    raise AssertionError("a watch told by its server never waits on receive")


async def test_a_client_that_leaves_cancels_the_work_as_a_499() -> None:
    client = Client()
    scope: dict[str, Any] = {"type": "http"}
    asyncio.get_running_loop().call_later(0.01, client.leave)
    with pytest.raises(GatewayError) as caught:
        await streamed(asyncio.sleep(10), scope, client.receive)
    assert caught.value.status == CLIENT_GONE
    assert cancelling() == 0
    assert _WATCH not in scope  # stopped: nothing is left to relay


async def test_work_that_ends_first_is_left_alone_and_a_later_leave_cancels_nothing() -> None:
    client = Client()
    scope: dict[str, Any] = {"type": "http"}
    assert await streamed(asyncio.sleep(0, "done"), scope, client.receive) == "done"
    watch = scope[_WATCH]  # handed on to the relay
    client.leave()
    await asyncio.sleep(0.01)  # the watch has seen it go: nothing of it is cancelled now
    assert watch.gone
    assert cancelling() == 0
    watch.stop()


class Closing:
    """A response whose close takes a while (httpx's own transports may wait in it)."""

    closed = False
    stream = None  # not our transport's Body

    async def aclose(self) -> None:
        await asyncio.sleep(0.05)
        self.closed = True


async def test_the_client_s_cancel_waits_for_a_close_then_lands_at_the_next_wait() -> None:
    client = Client()
    response = Closing()
    reached: list[str] = []

    async def work() -> None:
        asyncio.get_running_loop().call_later(0.01, client.leave)  # while it closes
        await _close(response)  # type: ignore[arg-type]
        reached.append("closed")
        await asyncio.sleep(10)
        reached.append("never")

    with pytest.raises(GatewayError):
        await streamed(work(), {"type": "http"}, client.receive)
    assert response.closed
    assert reached == ["closed"]
    assert cancelling() == 0


async def test_a_cancel_held_to_the_end_of_the_work_is_not_left_for_later() -> None:
    client = Client()
    scope: dict[str, Any] = {"type": "http"}
    response = Closing()

    async def work() -> str:
        asyncio.get_running_loop().call_later(0.01, client.leave)
        await _close(response)  # type: ignore[arg-type]
        return "over"  # no await after the close: the client's cancel has nothing to cut

    assert await streamed(work(), scope, client.receive) == "over"
    await asyncio.sleep(0.01)  # a stray cancel would land here
    assert cancelling() == 0
    scope[_WATCH].stop()


async def test_a_watch_handed_over_after_the_client_left_cancels_its_new_target() -> None:
    client = Client()
    scope: dict[str, Any] = {"type": "http"}
    await streamed(asyncio.sleep(0), scope, client.receive)
    watch = scope[_WATCH]
    client.leave()
    await asyncio.sleep(0.01)  # gone between the dispatch and the stream: nothing to cancel yet
    with anyio.CancelScope() as scope:
        watch.target(scope.cancel)
        await asyncio.sleep(10)
    assert scope.cancelled_caught
    watch.stop()


class Sink:
    """``send`` as a server's, keeping what went out."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


SCOPE: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}


async def test_a_client_that_leaves_mid_stream_ends_the_stream_and_its_body_closes() -> None:
    client = Client()
    closed = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"data: 1\n\n"
            asyncio.get_running_loop().call_later(0.01, client.leave)
            await asyncio.sleep(10)
            yield b"never"
        finally:
            closed.set()

    sink = Sink()
    with anyio.fail_after(5):
        await EventStream(body())(dict(SCOPE), client.receive, sink)
    assert closed.is_set()
    assert [m.get("body") for m in sink.sent[1:]] == [b"data: 1\n\n"]  # no end: cut off
    assert cancelling() == 0
    await asyncio.sleep(0)
    assert not [t for t in asyncio.all_tasks() if "_watch" in repr(t.get_coro())]


class Held:
    """A connection as ``Body`` lets it go."""

    reusable = False
    encoded = False


async def test_our_transport_s_answer_closes_without_waiting_even_in_a_cancelled_scope() -> None:
    # _close takes it without a shield: that holds only while its close never waits.
    released: list[bool] = []
    body = Body(Held(), 1.0, lambda conn, reuse: released.append(reuse))  # type: ignore[arg-type]
    response = httpx.Response(200, stream=body)
    step = response.aclose()
    with pytest.raises(StopIteration):
        step.send(None)  # done at its first step: nothing can land inside it
    assert released == [False] and response.is_closed
    again = httpx.Response(
        200, stream=Body(Held(), 1.0, lambda conn, reuse: released.append(reuse))
    )  # type: ignore[arg-type]
    with anyio.CancelScope() as scope:
        scope.cancel()
        await _close(again)
    assert released == [False, False] and again.is_closed


async def test_a_client_that_leaves_while_the_upstream_closes_lets_the_close_finish() -> None:
    client = Client()
    response = Closing()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"data: 1\n\n"
        finally:
            asyncio.get_running_loop().call_later(0.01, client.leave)  # during the close
            await _close(response)  # type: ignore[arg-type]

    sink = Sink()
    with anyio.fail_after(5):
        await EventStream(body())(dict(SCOPE), client.receive, sink)
    assert response.closed
    assert sink.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    await asyncio.sleep(0.01)  # the held cancel found nothing left to cancel: none stray
    assert cancelling() == 0


async def test_a_stream_cancelled_from_elsewhere_stays_cancelled() -> None:
    client = Client()

    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        await asyncio.sleep(10)

    task = asyncio.ensure_future(EventStream(body())(dict(SCOPE), client.receive, Sink()))
    await asyncio.sleep(0.01)
    task.cancel()  # the server shutting down, say: not the client leaving
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_cancel_waits_for_the_last_of_two_closes() -> None:
    client = Client()
    watch = _Watch(client.receive)
    fired: list[str] = []
    watch.target(lambda: fired.append("cancelled"))
    watch.hold()
    watch.hold()  # a relay finalized late, closing in the same context
    client.leave()
    await asyncio.sleep(0.01)
    watch.release()
    assert fired == []
    watch.release()
    assert fired == ["cancelled"]
    watch.stop()


async def test_a_stopped_watch_lets_its_task_go_without_the_garbage_collector() -> None:
    """Cancelled, the watch's task ends holding a traceback whose frame holds the watch: a
    watch still holding its task made a cycle that kept each request's task, watch and uvicorn
    cycle for the collector (issue 17). Stopped, nothing of it waits for the collector."""
    import gc
    import weakref

    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}

    gc.disable()
    try:
        watch = _Watch(receive)
        await asyncio.sleep(0)  # the task waits in receive()
        task = watch._task
        assert task is not None
        gone = weakref.ref(task)
        del task
        watch.stop()
        await asyncio.sleep(0)  # the cancel lands and the task ends
        await asyncio.sleep(0)
        del watch
        assert gone() is None
    finally:
        gc.enable()


class Departure:
    """A server's ``llm_agg.api.departure`` (the local server's protocol has one per connection)."""

    def __init__(self) -> None:
        self.gone = False
        self.on_gone: Any = None

    def leave(self) -> None:
        self.gone = True
        on_gone, self.on_gone = self.on_gone, None
        if on_gone is not None:
            on_gone()


async def test_a_watch_told_by_its_server_has_no_task_and_cancels_as_the_task_did() -> None:
    departure = Departure()
    watch = _Watch(never, {"type": "http", DEPARTURE: departure})
    assert watch._task is None and departure.on_gone is not None
    watch.stop()
    scope: dict[str, Any] = {"type": "http", DEPARTURE: departure}
    asyncio.get_running_loop().call_later(0.01, departure.leave)
    with pytest.raises(GatewayError) as caught:
        await streamed(asyncio.sleep(10), scope, never)
    assert caught.value.status == CLIENT_GONE
    assert cancelling() == 0
    assert _WATCH not in scope


async def test_a_told_watch_holds_its_cancel_for_closes_and_lets_go_when_stopped() -> None:
    departure = Departure()
    watch = _Watch(never, {"type": "http", DEPARTURE: departure})
    fired: list[str] = []
    watch.target(lambda: fired.append("cancelled"))
    watch.hold()
    departure.leave()
    assert fired == []
    watch.release()
    assert fired == ["cancelled"]
    watch.stop()
    # Stopped, it lets go of the server's hook; a later watch of the connection keeps its own.
    again = Departure()
    first = _Watch(never, {"type": "http", DEPARTURE: again})
    first.stop()
    assert again.on_gone is None
    second = _Watch(never, {"type": "http", DEPARTURE: again})
    stale = _Watch(never, {"type": "http", DEPARTURE: again})  # took the hook over
    second.stop()
    assert again.on_gone is not None  # the one holding it now is not the stopped one's
    stale.stop()
    assert again.on_gone is None


async def test_a_client_gone_before_its_watch_started_is_gone_at_once() -> None:
    departure = Departure()
    departure.leave()
    watch = _Watch(never, {"type": "http", DEPARTURE: departure})
    assert watch.gone
    watch.stop()
    with pytest.raises(GatewayError) as caught:
        await streamed(asyncio.sleep(10), {"type": "http", DEPARTURE: departure}, never)
    assert caught.value.status == CLIENT_GONE
    assert cancelling() == 0


async def test_a_stream_s_dispatch_done_first_hands_its_watch_to_the_relay() -> None:
    departure = Departure()
    scope: dict[str, Any] = {"type": "http", DEPARTURE: departure}
    assert await streamed(asyncio.sleep(0, "stream"), scope, never) == "stream"
    watch = scope[_WATCH]
    assert departure.on_gone == watch._left  # still told, for the relay's cancel
    departure.leave()
    await asyncio.sleep(0.01)  # nothing of the dispatch is cancelled now
    assert watch.gone
    assert cancelling() == 0
    watch.stop()


async def test_a_stream_s_dispatch_cancelled_from_elsewhere_stays_cancelled() -> None:
    departure = Departure()
    scope: dict[str, Any] = {"type": "http", DEPARTURE: departure}
    with anyio.CancelScope() as outer:
        asyncio.get_running_loop().call_later(0.01, outer.cancel)
        await streamed(asyncio.sleep(10), scope, never)
    assert outer.cancelled_caught  # not taken for the client's going
    assert departure.on_gone is None


async def test_a_stream_s_dispatch_failing_stops_its_watch_and_raises_as_it_was() -> None:
    departure = Departure()
    scope: dict[str, Any] = {"type": "http", DEPARTURE: departure}

    async def fails() -> None:
        raise GatewayError("no provider", status=503)

    with pytest.raises(GatewayError) as caught:
        await streamed(fails(), scope, never)
    assert caught.value.status == 503
    assert departure.on_gone is None
    assert _WATCH not in scope
