"""HTTP limits kept before any request reaches the gateway: uvicorn's httptools protocol with a
bound on the size of a request's head and on the time its head and body take to arrive.

httptools keeps a request's headers whole, however long: one 200 MB header held 300 MB and
its parse took CPU superlinear in its size. And a connection that sends its head or body a byte
at a time was never closed. So, on every connection, before authentication:

- the request line and headers together: at most ``LLM_AGG_HTTP_MAX_HEAD_BYTES`` (64 KiB), else
  431 and the connection is closed (no more of it is parsed);
- the head must be complete ``LLM_AGG_HTTP_HEAD_TIMEOUT`` seconds (10) after the connection
  opens or the request's first byte, else 408 and closed (an idle keep-alive connection is
  closed by uvicorn's own keep-alive timeout);
- the body must be complete ``LLM_AGG_HTTP_BODY_TIMEOUT`` seconds (60) after the head, else 408
  (when no answer has started) and closed.

It also tells the gateway of a client's going as soon as the connection ends
(``llm_agg.api.departure``), so that no request needs a task waiting on ``receive()`` for it.

And one saving: uvicorn writes an answer's head and its body in two ``transport.write`` calls,
two ``send`` system calls (~60 µs of CPU each here, issue 17). The protocol's transport holds
an answer's head back until its first body bytes, so both leave in one; a head with nothing
after it in the same step leaves on the loop's next turn, and nothing is ever reordered.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llm_agg.api.departure import DEPARTURE
from llm_agg.api.errors import GatewayError
from llm_agg.memo import Memo
from llm_agg.settings import positive
from llm_agg_local.served_cycle import Cycle


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 64 * 1024
    head_timeout: float = 10.0
    body_timeout: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HttpLimits:
        d = cls()
        return cls(
            max_head_bytes=int(positive(environ, "LLM_AGG_HTTP_MAX_HEAD_BYTES", d.max_head_bytes)),
            head_timeout=positive(environ, "LLM_AGG_HTTP_HEAD_TIMEOUT", d.head_timeout),
            body_timeout=positive(environ, "LLM_AGG_HTTP_BODY_TIMEOUT", d.body_timeout),
        )


def _refusal(status: int, message: str, code: str) -> bytes:
    body = GatewayError(message, status=status, type="invalid_request_error", code=code).body()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


# The path uvicorn made of each plain URL it has read (no query, no root path): a client asks
# the same few. Bounded: forgotten when full.
_PATHS: Memo[bytes, str] = Memo(256)
_PATH_BYTES = 128  # a longer URL is read each time, never kept

# The method and HTTP version httptools read from each request line seen whole at the start of
# a read (``POST /v1/chat/completions HTTP/1.1``): a client sends the same few. The parser's
# ``get_http_version`` formats its string with ``str.format`` (~6 µs of a cold request's CPU,
# issue 17) and ``get_method`` makes bytes to decode (~3 µs). The line's own bytes, found up to
# its CRLF, are the key only: what it maps to is what the parser made of those very bytes.
_LINES: Memo[bytes, tuple[str, str]] = Memo(256)
_LINE_BYTES = 256  # a longer request line is read by the parser each time, never kept

_Timer = tuple[float, str]  # seconds from now, and what must have arrived by then
_KEEP: _Timer = (0.0, "")  # no change asked for


class _HeadHeld:
    """The connection's transport, with ``write`` holding the first bytes written after
    ``hold()`` (an answer's head) until the next write, a ``close``, ``flush()`` or the loop's
    next turn, whichever comes first. Everything else is the transport's own.

    Once an answer's head has left, its cycle (``hold``'s, whose ``transport`` this is) is
    given the socket's transport itself: the rest of its answer (a stream's every chunk) is
    written without passing through here (~0.3 µs a chunk)."""

    __slots__ = ("_held", "_holding", "_loop", "_next", "_owner", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._holding = False
        self._next: Any = None  # the cycle whose head the next write is
        self._owner: Any = None  # the cycle whose head is held

    def hold(self, cycle: Any = None) -> None:
        self._holding = True
        self._next = cycle

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
            self._hand_over()
        elif self._holding:
            self._holding = False
            self._held = bytes(data)
            self._owner, self._next = self._next, None
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)
            self._hand_over()

    def _hand_over(self) -> None:
        """The held head's cycle writes to the socket's transport from now on: nothing of its
        answer is held any more, and a next answer's head is held for its own cycle."""
        owner, self._owner = self._owner, None
        if owner is not None and owner.transport is self:
            owner.transport = self._transport

    def writelines(self, data: Any) -> None:
        self.flush()
        self._transport.writelines(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:  # asked once a request: not through __getattr__ (~0.5 µs)
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Departure:
    """``llm_agg.api.departure.Departure`` for the requests of one connection: its client is
    gone once the connection is lost (uvicorn's ``receive`` says ``http.disconnect`` then too;
    a request whose answer was whole by then is no one's concern any more)."""

    __slots__ = ("gone", "on_gone")

    def __init__(self) -> None:
        self.gone = False
        self.on_gone: Callable[[], None] | None = None

    def left(self) -> None:
        self.gone = True
        on_gone, self.on_gone = self.on_gone, None
        if on_gone is not None:
            on_gone()


class _Cycle(Cycle):
    """uvicorn's ``RequestResponseCycle`` (as ``served_cycle.Cycle``: a head written from
    memory once rendered), standing for its own ``message_event``: where each
    request made an ``asyncio.Event`` (its ``__init__``, ``set`` on the body and at the
    message's end, ``wait`` and ``clear`` in ``receive``: five calls into ``asyncio.locks``, on
    a cold vCPU ~10 µs of a request's CPU, issue 17), the cycle keeps the event's flag itself
    and makes a future only when ``receive`` has to wait for more of the body. What sets,
    waits on or clears ``message_event`` (uvicorn's protocol and ``send``) does the same to
    the cycle's flag, so the rest of uvicorn's code is unchanged."""

    _waiters: list[asyncio.Future[None]] | None = None  # receive()s waiting for the flag
    received = False  # whether any of the body was given (receive() or take_body())

    def __init__(
        self,
        scope: Any,
        transport: asyncio.Transport,
        flow: Any,
        protocol: HttpToolsProtocol,
        expect_100_continue: bool,
        keep_alive: bool,
    ) -> None:
        # RequestResponseCycle.__init__'s, from its protocol, without the keyword call.
        self.scope = scope
        self.transport = transport
        self.flow = flow
        self.logger = protocol.logger
        self.access_logger = protocol.access_logger
        self.access_log = protocol.access_log
        self.default_headers = protocol.server_state.default_headers
        self.on_response = protocol.on_response_complete
        self.disconnected = False
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100_continue
        self.body = bytearray()
        self.more_body = True
        self.response_started = False
        self.response_complete = False
        self.chunked_encoding = None
        self.expected_content_length = 0
        self.ready = False  # the message event's flag

    # --- the message event: asyncio.Event's, for the one cycle ----------------------------

    @property
    def message_event(self) -> _Cycle:  # type: ignore[override]
        return self  # a property, not an attribute: no reference cycle to wait for the GC

    def set(self) -> None:
        if not self.ready:
            self.ready = True
            waiters = self._waiters
            if waiters:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    def clear(self) -> None:
        self.ready = False

    def is_set(self) -> bool:
        return self.ready

    async def wait(self) -> bool:
        if self.ready:
            return True
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            waiters.remove(waiter)

    async def receive(self) -> Any:
        """``RequestResponseCycle.receive``, with the event's wait and clear in this frame when
        the body is there already (nearly every request: it came whole with its head)."""
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            flow = self.flow
            if flow.read_paused:  # FlowControl.resume_reading's test, without the call
                flow.resume_reading()
            if not self.ready:
                await self.wait()
            self.ready = False
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        message = {"type": "http.request", "body": bytes(self.body), "more_body": self.more_body}
        self.body = bytearray()
        self.received = True
        return message

    def take_body(self) -> bytes | None:
        """The whole body when all of it has arrived and none of it was received, else None:
        what ``receive()`` would give in one message, without its coroutine and message
        (``llm_agg.api.arrived``). The cycle is then as after that ``receive()``."""
        if self.more_body or self.received or self.disconnected or self.response_complete:
            return None
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        flow = self.flow
        if flow.read_paused:
            flow.resume_reading()
        self.ready = False
        self.received = True
        body = bytes(self.body)
        self.body = bytearray()
        return body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with the limits above (read once per process from the environment,
    where ``llm-agg serve`` put them before starting its workers)."""

    limits = HttpLimits.from_env(os.environ)
    cycle: _Cycle  # every request's (on_headers_complete); None before the first

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests, or reading one's line and headers
        self._head_bytes = 0
        # The request line (without its CRLF) of the request being read, when the read that
        # began it held the whole line; else None. Looked for only in a read that begins at a
        # request's first byte: when the parser is between two (after a request's end, before
        # the next one's beginning), not wherever a head's count of bytes is zero.
        self._line: bytes | None = None
        self._between = True
        self._timer: asyncio.TimerHandle | None = None
        # While a read is parsed, the timer it asks for is noted and set once the read is
        # parsed (the loop's time has not moved since: the deadline is the same): a request
        # that came whole in one read (the usual case) sets none at all, where its head, its
        # body and its end each set or cancelled one (~2 µs a request).
        self._parsing = False
        self._wanted: _Timer | None = _KEEP
        self._head_due: _Timer = (self.limits.head_timeout, "headers")
        self._body_due: _Timer = (self.limits.body_timeout, "body")
        # uvicorn's keep-alive timeout, from an answer's end to the next request's first byte:
        # one timer for the connection, moved on lazily (when it fires while the connection is
        # busy, or idle for less than the timeout, it re-arms for the deadline as it now
        # stands), where uvicorn set a timer at every answer's end and cancelled it at the next
        # request's first byte (a timer handle made and closed a request, ~5 µs cold).
        self._idle_since: float | None = None  # None: a request is under way

    # --- the timer: one at a time, for the head or for the body ---------------------------

    def _arm(self, seconds: float, what: str) -> None:
        if self._parsing:
            self._wanted = (seconds, what)
            return
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._parsing:
            self._wanted = None
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- the keep-alive timer: one for the connection, moved on lazily -------------------

    def _unset_keepalive_if_required(self) -> None:
        """A request's first byte (or the connection's end): busy from now on. Its timer, if
        any, is left to find that out when it fires."""
        self._idle_since = None

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None:
            return  # busy: the end of its answer arms it again
        due = idle_since + self.timeout_keep_alive
        if self.loop.time() < due:
            self.timeout_keep_alive_task = self.loop.call_at(due, self._keep_alive_due)
            return
        self.timeout_keep_alive_handler()

    def _expired(self, what: str) -> None:
        self._timer = None
        message = f"The request's {what} did not arrive in time."
        self._refuse(408, message, "request_timeout")

    def _refuse(self, status: int, message: str, code: str) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_refusal(status, message, code))
        # The app, if it runs, sees the client gone (http.disconnect); its answer is dropped.
        self.transport.close()

    # --- protocol events --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._out = _HeadHeld(transport, self.loop)
        self._departure = _Departure()
        super().connection_made(self._out)  # type: ignore[arg-type]
        self._arm(self.limits.head_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)
        self._departure.left()

    def data_received(self, data: bytes) -> None:
        if not self._in_head or self.parser is None:
            super().data_received(data)
            return
        self._parsing = True
        if self._timer is None:  # the first byte of another request on this connection
            self._wanted = self._head_due
        try:
            room = self.limits.max_head_bytes - self._head_bytes
            if len(data) <= room:
                if self._between:  # this read begins a request: its line, if whole
                    end = data.find(b"\r\n")
                    self._line = data[:end] if end > 0 else None
                self._head_bytes += len(data)
                # HttpToolsProtocol.data_received, in this frame (its keep-alive part is ours).
                self._idle_since = None
                try:
                    self.parser.feed_data(data)
                except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
                    self._unparsed(exc)
            else:
                self._read_over(data, room)
        finally:
            # _settle, in this frame.
            self._parsing = False
            wanted, self._wanted = self._wanted, _KEEP
            if wanted is None:
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            elif wanted is not _KEEP:
                self._arm(*wanted)

    def _unparsed(self, exc: Exception) -> None:
        """What ``HttpToolsProtocol.data_received`` does when its parser raises."""
        if isinstance(exc, httptools.HttpParserUpgrade):
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _read_over(self, data: bytes, room: int) -> None:
        """A read longer than what the head may still take."""
        # Feed only what the head may still take: the rest is body if the head ended in it.
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._in_head:
            limit = self.limits.max_head_bytes
            message = f"The request line and headers are over {limit} bytes."
            self._refuse(431, message, "headers_too_large")
            return
        super().data_received(data[room:])

    def on_message_begin(self) -> None:
        """``HttpToolsProtocol.on_message_begin``, noting that a request has begun."""
        self._between = False
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }

    def on_headers_complete(self) -> None:
        """``HttpToolsProtocol.on_headers_complete``, with this module's cycle (``_Cycle``) and,
        for a URL it has already read (a path with no query), without reading it again
        (``httptools.parse_url``, ~8 µs of a cold request's CPU, issue 17)."""
        self._in_head = False
        self._head_bytes = 0
        line, self._line = self._line, None
        parser = self.parser
        if parser.should_upgrade():
            self._disarm()  # a WebSocket's connection is its own protocol's from here on
            if self._should_upgrade():
                super().on_headers_complete()  # its method, and no cycle: the upgrade's
                return
        elif self._parsing:  # _arm's, without the call (on every request)
            self._wanted = self._body_due
        else:
            self._arm(*self._body_due)
        scope = self.scope
        known = None if line is None else _LINES.get(line)
        if known is None:
            method = parser.get_method().decode("ascii")
            version = parser.get_http_version()
            if (
                line is not None
                and len(line) <= _LINE_BYTES
                and b"\r" not in line
                and b"\n" not in line
            ):
                # Those bytes, from the request's first to its first CR and LF, are the line
                # the parser read: nothing else ends it in a request it accepts.
                _LINES.keep(line, (method, version))
        else:
            method, version = known
        scope["method"] = method
        if version != "1.1":
            scope["http_version"] = version
        url = self.url
        path = _PATHS.get(url)
        root_path = self.root_path
        if path is not None and not root_path:
            scope["path"] = path
            scope["raw_path"] = url
            scope["query_string"] = b""
        else:
            self._read_url(scope, url, root_path)
        scope[DEPARTURE] = self._departure  # type: ignore[literal-required]
        app = self.app
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency
            or len(self.tasks) >= self.limit_concurrency
        ):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        existing = self.cycle
        cycle = self.cycle = _Cycle(
            scope,
            self.transport,
            self.flow,
            self,
            self.expect_100_continue,
            version != "1.0" and parser.should_keep_alive(),
        )
        # This request's answer starts with its head (_HeadHeld.hold, without the call).
        out = self._out
        out._holding = True
        out._next = cycle
        if existing is not None and not existing.response_complete:
            # Pipelined: it waits for the answer before it.
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))
        elif self.config.reset_contextvars:
            self._start_asgi_task(cycle, app)
        else:  # _start_asgi_task's, in this frame
            task = self.loop.create_task(cycle.run_asgi(app))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    @staticmethod
    def _read_url(scope: Any, url: bytes, root_path: str) -> None:
        """The scope's path, raw path and query from the request's URL, as uvicorn reads them;
        a plain path (no query, no root path) is remembered for the next request to it."""
        parsed = httptools.parse_url(url)
        raw_path = parsed.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = root_path + path
        scope["raw_path"] = root_path.encode("ascii") + raw_path
        query = scope["query_string"] = parsed.query or b""
        if len(url) <= _PATH_BYTES and not root_path and raw_path == url and not query:
            _PATHS.keep(url, path)

    def on_body(self, body: bytes) -> None:
        """``HttpToolsProtocol.on_body``, the cycle's flag set in this frame."""
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.body += body
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        if not cycle.ready:
            cycle.set()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._between = True
        if self._parsing:  # _disarm's, without the call (on every request)
            self._wanted = None
        else:
            self._disarm()
        # HttpToolsProtocol.on_message_complete, in this frame.
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.more_body = False
        if not cycle.ready:
            cycle.set()

    def on_response_complete(self) -> None:
        """``HttpToolsProtocol.on_response_complete``, with the keep-alive timer moved on
        rather than made anew."""
        self._out.flush()  # a head whose body was empty: the answer is whole, send it now
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_due
            )
