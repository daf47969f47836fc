"""uvicorn's request-response cycle, with an answer's head rendered once per set of headers.

uvicorn renders every answer's head from its header list: per header two regular expressions,
a lowering, three comparisons and an extend (a stream's head has eight headers: ~13 µs of a
cold worker's CPU before each stream's first byte, issue 17). The lines are the same for every
answer with the same status and headers (a relay's are the same per target and attempt count)
and the same default headers (``date`` and ``server``, which uvicorn renews each second as a
new list). So the first such head is rendered by uvicorn's own ``send``, and what it wrote and
left in the cycle's state is remembered; the next is written from that.

A chunked answer's body pieces (a stream's every chunk) are framed here as uvicorn frames
them: ``send`` is one coroutine either way, not ours calling uvicorn's. Anything else (a paused
or gone client, an access log, a head whose headers cannot be a key) is uvicorn's ``send``.
Held equal to uvicorn's by tests/unit/test_served_cycle.py.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from llm_agg.memo import Memo

# (bytes written, keep_alive, chunked_encoding, expected_content_length) after a head, by its
# status, the cycle's keep_alive, whether the request is a HEAD, the default headers' id and
# the answer's headers. The default header list is held in the value (its id stays its own
# while the entry lives). Bounded: emptied when full (a new default list comes every second).
_Rendered = tuple[bytes, bool, bool | None, int, object]
_HEADS: Memo[tuple[Any, ...], _Rendered] = Memo(256)


class _Last:
    """The last head ``Cycle`` wrote and what it knew of it: the next head of a stream is most
    often the same, and is then found by comparing its headers with these (one by one, the
    same tuples) rather than by a key of them all hashed (~4 µs of a cold worker's CPU)."""

    __slots__ = ("defaults", "headers", "is_head", "keep_alive", "rendered", "status")

    def __init__(self) -> None:
        self.defaults: object = None
        self.headers: list[Any] = []
        self.status = 0
        self.keep_alive = False
        self.is_head = False
        self.rendered: _Rendered | None = None

    def keep(
        self, defaults: object, headers: Any, status: int, keep_alive: bool, is_head: bool
    ) -> None:
        self.defaults = defaults
        self.headers = list(headers)  # of tuples (they made a key): nothing can change them
        self.status = status
        self.keep_alive = keep_alive
        self.is_head = is_head


_LAST = _Last()


class _Written:
    """A transport that keeps what is written to it: the head uvicorn renders on a miss."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


class Cycle(RequestResponseCycle):
    async def send(self, message: Any) -> None:
        if self.flow.write_paused or self.disconnected:
            await RequestResponseCycle.send(self, message)
            return
        if self.response_started:
            if (
                self.chunked_encoding
                and not self.response_complete
                and message["type"] == "http.response.body"
                and self.scope["method"] != "HEAD"
            ):
                # uvicorn's framing of a chunked answer's piece, and its end.
                body = message.get("body", b"")
                more_body = message.get("more_body", False)
                content = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
                if not more_body:
                    content += b"0\r\n\r\n"
                self.transport.write(content)
                if not more_body:
                    self.response_complete = True
                    self.message_event.set()
                    if not self.keep_alive:
                        self.transport.close()
                return
        elif message["type"] == "http.response.start" and not self.access_log:
            status = message["status"]
            defaults = self.default_headers
            headers = message.get("headers", ())
            keep_alive = self.keep_alive
            is_head = self.scope["method"] == "HEAD"
            last = _LAST
            if (
                last.defaults is defaults
                and last.status == status
                and last.keep_alive is keep_alive
                and last.is_head is is_head
                and last.headers == headers
            ):
                known = last.rendered
            else:
                try:
                    key = (status, keep_alive, is_head, id(defaults), *headers)
                    known = _HEADS.get(key)
                except TypeError:  # a header that cannot be a key (a list): uvicorn's own
                    key, known = None, None
                if known is None:
                    await self._render(message, key)
                    return
                last.keep(defaults, headers, status, keep_alive, is_head)
                last.rendered = known
            assert known is not None
            data, self.keep_alive, self.chunked_encoding, self.expected_content_length, _ = known
            self.response_started = True
            self.waiting_for_100_continue = False
            self.transport.write(data)
            return
        await RequestResponseCycle.send(self, message)

    async def _render(self, message: Any, key: tuple[Any, ...] | None) -> None:
        """uvicorn's ``send`` of a head, whose lines and outcome are remembered under ``key``."""
        if key is None:
            await RequestResponseCycle.send(self, message)
            return
        transport, written = self.transport, _Written()
        self.transport = written  # type: ignore[assignment]
        try:
            await RequestResponseCycle.send(self, message)
        finally:
            self.transport = transport
        outcome = (self.keep_alive, self.chunked_encoding, self.expected_content_length)
        _HEADS.keep(key, (written.data, *outcome, self.default_headers))
        transport.write(written.data)
