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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
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


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with the limits above (read once per process from the environment,
    where ``llm-agg serve`` put them before starting its workers)."""

    limits = HttpLimits.from_env(os.environ)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests, or reading one's line and headers
        self._head_bytes = 0
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

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        parser = self.parser
        if parser.should_upgrade():
            self._disarm()  # a WebSocket's connection is its own protocol's from here on
            super().on_headers_complete()
            return
        if self._parsing:  # _arm's, without the call (on every request)
            self._wanted = self._body_due
        else:
            self._arm(*self._body_due)
        url = self.url
        path = _PATHS.get(url)
        if path is None or self.root_path or self.limit_concurrency is not None:
            super().on_headers_complete()
            scope = self.scope
            if (
                len(url) <= _PATH_BYTES
                and not self.root_path
                and scope["raw_path"] == url
                and not scope["query_string"]
            ):
                _PATHS.keep(url, scope["path"])
            scope[DEPARTURE] = self._departure  # type: ignore[literal-required]
        else:
            self._start(parser, path, url)
        # This request's answer starts with its head (_HeadHeld.hold, without the call).
        out = self._out
        out._holding = True
        out._next = self.cycle

    def _start(self, parser: Any, path: str, url: bytes) -> None:
        """What ``HttpToolsProtocol.on_headers_complete`` does for a request that is not an
        upgrade, on a server without a root path or a concurrency limit, to a URL it has
        already read (``path``, with no query): the same scope and cycle, without reading the
        URL again (``httptools.parse_url``, ~8 µs of a cold request's CPU, issue 17)."""
        scope = self.scope
        scope["method"] = parser.get_method().decode("ascii")
        version = parser.get_http_version()
        if version != "1.1":
            scope["http_version"] = version
        scope["path"] = path
        scope["raw_path"] = url
        scope["query_string"] = b""
        scope[DEPARTURE] = self._departure  # type: ignore[literal-required]
        existing = self.cycle
        self.cycle = Cycle(  # uvicorn's, writing a head it has rendered before from memory
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=version != "1.0" and parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        if existing is not None and not existing.response_complete:
            # Pipelined: it waits for the answer before it.
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, self.app))
        elif self.config.reset_contextvars:
            self._start_asgi_task(self.cycle, self.app)
        else:  # _start_asgi_task's, in this frame
            task = self.loop.create_task(self.cycle.run_asgi(self.app))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    def on_message_complete(self) -> None:
        self._in_head = True
        if self._parsing:  # _disarm's, without the call (on every request)
            self._wanted = None
        else:
            self._disarm()
        # HttpToolsProtocol.on_message_complete, in this frame.
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.message_event.set()

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
