"""One HTTP/1.1 connection to an upstream: an ``asyncio.Protocol`` that feeds httptools' parser
(llhttp, the parser uvicorn serves with) and keeps the answer for whoever holds the connection:
the transport until the head has come, then the response's body stream.

It fails the way httpcore does, so the dispatcher tells the same failures apart: a peer that
closes before any answer is ``RemoteProtocolError`` ("Server disconnected without sending a
response."), one that closes inside a framed body too, a reset is ``ReadError``, a read that
waits past its timeout ``ReadTimeout``, a write ``WriteTimeout``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Final, Literal, cast

import httptools
import httpx

Key = tuple[bytes, str, int]  # (scheme, host, port): the connections one request may reuse
State = Literal["busy", "idle", "gone"]

# Body bytes kept unread before the socket stops being read: a slow reader (a client reading
# its stream slowly) holds back the upstream instead of filling this process's memory.
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = HIGH_WATER // 4
DISCONNECTED: Final = "Server disconnected without sending a response."
MAX_HEAD: Final = 100 * 1024  # as httpcore bounds h11's (MAX_INCOMPLETE_EVENT_SIZE)


def expire(waiter: asyncio.Future[bool]) -> None:
    """A timer's end: the wait it bounds returns False."""
    if not waiter.done():
        waiter.set_result(False)


class Surplus(Exception):
    """Bytes after a complete answer: parsing stops there and the connection is not reused."""


class Connection(asyncio.Protocol):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        key: Key,
        forget: Callable[[Connection], None],
    ) -> None:
        self.loop = loop
        self.key = key
        self._forget = forget  # the pool's: an idle connection the peer closed leaves it
        self.transport: asyncio.Transport | None = None
        self.state: State = "busy"
        self.served = 0  # answers read whole on it: only a reused connection can be stale
        self.idle_since = 0.0
        self.lost = False
        self.closing = False  # the request said ``Connection: close``
        self._waiter: asyncio.Future[bool] | None = None
        # The wait's timeout: one timer a connection, moved on lazily (when it fires before the
        # waiter's time it is set again for it), in place of one per wait (call_later and its
        # cancel: ~1.2 µs before each stream's first byte, and again at every read after).
        self._due: float | None = None  # loop time by which the waiter gives up
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.writable = True
        self.paused = False
        self._parser = httptools.HttpResponseParser(self)
        self.begin()

    def begin(self) -> None:
        """Ready for the next answer."""
        self.status = 0
        self.http_version = b"HTTP/1.1"  # the answer's, once its head is done
        self.reason = b""
        # (name, lowered name, value): as httpx's Headers keep them, handed to the answer.
        self.headers: list[tuple[bytes, bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.received = 0  # bytes of this answer so far
        self.framed = False  # Content-Length or chunked: its end is known without a close
        self.encoded = False  # a Content-Encoding: the body is to be decoded (httpx does it)
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.error: httpx.TransportError | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.state != "busy":
            # Bytes nobody asked for on an idle connection: its next answer can't be trusted.
            if self.state == "idle":
                self._forget(self)
                self.close()
            return
        self.received += len(data)
        try:
            self._parser.feed_data(data)
            if not self.head_done and self.received > MAX_HEAD:
                raise httptools.HttpParserError(f"a head past {MAX_HEAD} bytes")
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self.complete:  # the answer is whole; only what followed it was refused
                self.keep_alive = False
            else:
                # The holder still owns it: it reads the error, then releases it to the pool.
                self._fail(httpx.RemoteProtocolError(f"malformed answer: {exc}"))
                cast(asyncio.Transport, self.transport).abort()
        if self.buffered > HIGH_WATER and not self.paused:
            self.paused = True
            cast(asyncio.Transport, self.transport).pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.state == "idle":
            self._forget(self)
        elif self.state == "busy" and not self.complete:
            if self.head_done and not self.framed and exc is None:
                self.complete = True  # the body ran to the close (HTTP/1.0, no length)
            elif exc is not None:
                self._fail(httpx.ReadError(str(exc) or type(exc).__name__))
            elif not self.head_done:
                self._fail(httpx.RemoteProtocolError(DISCONNECTED))
            else:
                self._fail(
                    httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                )
        self._wake()
        self._disarm()  # whoever waits is woken; a later wait sets the timer again

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        self._wake()

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            raise Surplus

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        self.headers.append((name, lowered, value))
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.framed = True
        elif lowered == b"content-encoding":
            self.encoded = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status >= 200:  # an informational answer (100, 103) is skipped: the answer follows
            self.status = status
            version = self._parser.get_http_version()
            self.http_version = b"HTTP/1.1" if version == "1.1" else b"HTTP/1.0"
            self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if not self.head_done:
            self.reason = b""
            self.headers = []
            self.framed = False
            self.encoded = False
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()

    # for the holder

    @property
    def reusable(self) -> bool:
        """Read to its end, nothing left over, and both sides keep it open."""
        return (
            self.complete
            and not self.body
            and self.keep_alive
            and not self.closing
            and not self.lost
        )

    async def wait(self, seconds: float | None) -> bool:
        """Until there is news (bytes, the head, the end, a close): False when ``seconds``
        passed first."""
        try:
            return await self.news(seconds)
        finally:
            self._waiter = None

    def news(self, seconds: float | None) -> asyncio.Future[bool]:
        """What ``wait`` waits on, for the reads that wait most (the answer's head, a stream's
        every chunk) to await themselves: one coroutine fewer to make, and to resume between
        the task and the socket when the news comes. Once it is done (or cancelled) it is
        never set again: ``_wake`` and the timer skip a done waiter, the next one replaces it."""
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self._waiter = waiter
        if seconds is None:
            self._due = None
        else:
            self._due = due = self.loop.time() + seconds
            if self._timer is None or self._timer_at > due:
                self._arm(due)
        return waiter

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._time_up)

    def _time_up(self) -> None:
        self._timer = None
        waiter, due = self._waiter, self._due
        if waiter is None or due is None or waiter.done():
            return  # nobody waits with a timeout: the next wait sets it again
        if self.loop.time() < due:
            self._arm(due)  # set for an earlier wait: this one has longer
        else:
            waiter.set_result(False)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def write(self, data: bytes) -> bool:
        """``data`` handed to the socket; whether the caller is to ``drain`` before going on
        (the kernel's buffer is full). Not a coroutine: a request's head and body nearly
        always leave at once, and a coroutine to create, run and finish before every
        answer is paid cold (issue 17)."""
        if self.lost or self.transport is None:
            raise self.error or httpx.WriteError("the connection is closed")
        self.transport.write(data)
        return not self.writable

    async def drain(self, seconds: float | None) -> None:
        """Wait while the kernel's buffer is full, unless the answer already came (a server may
        answer early, 413, and stop reading): then the answer is what the caller reads."""
        while not self.writable and not self.lost and not self.head_done:
            if not await self.wait(seconds):
                raise httpx.WriteTimeout("the request could not be written in time")

    def take(self) -> bytes:
        """The next piece of body as it came: one chunk of a chunked body, or one read of any
        other. httpcore (h11) handed on the same pieces, and the relay decides at their
        boundaries (an error in the piece after the first event is a mid-stream error)."""
        piece = self.body.popleft()
        self.buffered -= len(piece)
        if self.paused and self.buffered <= LOW_WATER and not self.lost:
            self.paused = False
            cast(asyncio.Transport, self.transport).resume_reading()
        return piece

    # The pool's, when it lets a connection go.

    def close(self) -> None:
        """Closed gracefully: only an idle connection, or one read to its end."""
        self.state = "gone"
        self._disarm()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Dropped mid-answer: nothing more is read or written."""
        self.state = "gone"
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)


class Body(httpx.AsyncByteStream):
    """An answer's body as it arrives: each read yields what came since the last, and waits
    (up to the read timeout) only when nothing has. Read to its end, the connection goes back
    to the pool; closed before, or failed, the connection is closed."""

    def __init__(
        self,
        conn: Connection,
        seconds: float | None,
        release: Callable[[Connection, bool], None],
    ) -> None:
        self._conn: Connection | None = conn
        self._seconds = seconds
        self._release = release
        # The answer has a Content-Encoding header (its head was read whole before this):
        # ``dispatch`` relays such a body decoded, without looking through its headers.
        self.encoded = conn.encoded

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                if conn.body:
                    yield conn.take()
                elif conn.complete:
                    break
                elif conn.error is not None:
                    raise conn.error
                elif not await conn.wait(self._seconds):
                    raise httpx.ReadTimeout("no more of the answer in time")
        except BaseException:
            self._let_go()
            raise
        self._let_go()

    async def aclose(self) -> None:
        self._let_go()

    def _let_go(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._release(conn, conn.reusable)


class Reads:
    """``response.aiter_raw()`` of an answer whose stream is a ``Body``, as the relay reads it:
    the same pieces (an empty one skipped), the same refusals, a transport error naming the
    request, the answer closed at its end. One object whose ``__anext__`` reads the connection
    itself, in place of two async generators (httpx's, or the relay's, over ``Body``'s): each
    of those is registered with the event loop on its first read and resumed through its own
    frame on every read after (~5 µs before a stream's first byte, run cold). Held to
    ``aiter_raw`` by tests/functional/http_transport/test_streaming.py."""

    __slots__ = ("_body", "_response", "_started")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._body: Body = response.stream  # type: ignore[assignment]  # (cast: a call)
        self._started = False

    def __aiter__(self) -> Reads:
        return self

    async def __anext__(self) -> bytes:
        response = self._response
        if not self._started:
            if response.is_stream_consumed:
                raise httpx.StreamConsumed()
            if response.is_closed:
                raise httpx.StreamClosed()
            self._started = True
            response.is_stream_consumed = True
            response._num_bytes_downloaded = 0
        body = self._body
        conn = body._conn
        try:
            while conn is not None:
                if conn.body:
                    piece = conn.take()
                    response._num_bytes_downloaded += len(piece)
                    if piece:
                        return piece
                elif conn.complete:
                    break
                elif conn.error is not None:
                    raise conn.error
                elif not await conn.news(body._seconds):
                    raise httpx.ReadTimeout("no more of the answer in time")
        except BaseException as exc:
            body._let_go()
            if isinstance(exc, httpx.RequestError) and response._request is not None:
                exc.request = response._request
            raise
        # The end: the answer closed, as ``aiter_raw`` ends with ``aclose``.
        if not response.is_closed:
            response.is_closed = True
            body._let_go()
        raise StopAsyncIteration
