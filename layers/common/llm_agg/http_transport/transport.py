"""``UpstreamTransport``: httpx's transport interface over asyncio and httptools, HTTP/1.1 with
keep-alive, for the gateway's calls to providers.

What it does not do it leaves to httpx's own transport (``fallback``), never half-done: a
scheme other than http/https, HEAD and CONNECT, an ``Upgrade``, request extensions other than
the timeout (``sni_hostname``, ``trace``), and any loop but asyncio's.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from functools import partial
from typing import Final

import httpx

from llm_agg.http_transport.client import UNKNOWN, Headers
from llm_agg.http_transport.connect import connect
from llm_agg.http_transport.connection import Body, Connection, Key
from llm_agg.http_transport.pool import Pool
from llm_agg.memo import IdMemo, Memo

_PORTS: Final = {b"http": 80, b"https": 443}
_ELSEWHERE: Final = frozenset({"HEAD", "CONNECT"})
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Tokens joined by ":" (never in a token): the names of a request's headers, in one match.
_TOKENS: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?::[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*")
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]")
_OWN_EXTENSIONS: Final = frozenset({"timeout"})
_CHUNK_END: Final = b"0\r\n\r\n"

# A request may go out twice only when its body is bytes (it can be sent again) and the first
# try met a reused connection its server had closed while idle: nothing of an answer came.
_STALE: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_Kept = tuple[bytes, bytes, bytes]  # a header as httpx's Headers keep it: name, lowered, value


class UpstreamTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        limits: httpx.Limits = httpx.Limits(),  # noqa: B008 - immutable, httpx's own defaults
        ssl_context: ssl.SSLContext | None = None,
        fallback: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # The context httpx would make (certifi, or SSL_CERT_FILE / SSL_CERT_DIR): the same
        # verification as before; the fallback shares it.
        self._tls = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._tls.set_alpn_protocols(["http/1.1"])
        self._fallback = fallback  # made when first needed: httpcore is ~50 ms to import
        self._limits = limits
        self._pool: Pool | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = request.headers
        template = sent.template if type(sent) is Headers else None
        known: _Head | None
        if (
            template is not None
            and request.url is template.url
            and request.method is template.method
            and type(request.stream) is httpx.ByteStream
        ):
            # Built by UpstreamClient from a template and unchanged since: its head is the
            # template's (worked out once by _known_head), with no look-up by value.
            known = template.known
            if known is UNKNOWN:
                known = template.known = _known_head(request)
        else:
            known = _known_head(request)
        if known is not None:  # the usual request: its head known but for Content-Length
            name, _, length = request.headers._list[-1]
            key, close = known.key, known.close
            head = b"%s%s: %s\r\n\r\n" % (known.head, name, length)
            body: bytes | None = request.stream._stream  # type: ignore[union-attr]
            if not request.extensions.keys() <= _OWN_EXTENSIONS:
                return await self._elsewhere(request)
        else:
            where, raw_path = _where(request.url)
            upgrade, close, lines = _known_lines(request.headers._list)
            if (
                where is None
                or request.method in _ELSEWHERE
                or not request.extensions.keys() <= _OWN_EXTENSIONS
                or upgrade
            ):
                return await self._elsewhere(request)
            key = where
            line = _request_line(request.method, raw_path)
            head = line + (_lines(request.headers.raw) + b"\r\n" if lines is None else lines)
            stream = request.stream
            body = b"".join(stream) if isinstance(stream, httpx.ByteStream) else None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another event loop (trio): httpcore runs there
            return await self._elsewhere(request)
        pool = self._pool
        if pool is None or pool.loop is not loop:
            pool = self._pool_on(loop)
        timeouts = request.extensions.get("timeout", {})
        for retry in (False, True):
            # An idle connection, as checkout would take it, without its coroutine; a new one,
            # or a wait for one, through checkout.
            conn = None if retry else pool.take_idle(key)
            if conn is None:
                opener = partial(self._open, loop, pool, key, timeouts.get("connect"))
                conn = await pool.checkout(key, opener, timeouts.get("pool"), fresh=retry)
            conn.closing = close
            try:
                if body is not None:
                    if conn.write(head + body):
                        await conn.drain(timeouts.get("write"))
                else:
                    await _write_stream(conn, head, request, timeouts.get("write"))
                # The answer's head, waited for here: one coroutine less to suspend and resume
                # (run cold, before every answer).
                while not conn.head_done:
                    if conn.error is not None:
                        raise conn.error
                    if not await conn.news(timeouts.get("read")):
                        raise httpx.ReadTimeout("no answer in time")
            except _STALE:
                stale = conn.served > 0 and not conn.received and body is not None
                pool.release(conn, False)
                if stale and not retry:
                    continue
                raise
            except BaseException:
                pool.release(conn, False)
                raise
            # ``httpx.Response(conn.status, headers=conn.headers, stream=body, extensions=...)``
            # as its constructor leaves it, in this frame, without its Headers' pass over names
            # and values that are already bytes (2.1 -> 1.4 µs with five headers, 4.4 -> 2.3
            # with twenty, before every stream's first byte). Its attributes are pinned to
            # httpx's own by tests/functional/http_transport/test_answers.py.
            headers = httpx.Headers.__new__(httpx.Headers)  # __init__'s ABC checks: ~0.6 µs
            # The connection's list itself (lowered as it was parsed): a trailer parsed after
            # goes to a new one.
            headers._list, conn.headers = conn.headers, []
            headers._encoding = None
            response = httpx.Response.__new__(httpx.Response)
            response.status_code = conn.status
            response.headers = headers
            response._request = None
            response.next_request = None
            response.extensions = {"http_version": conn.http_version, "reason_phrase": conn.reason}
            response.history = []
            response.is_closed = False
            response.is_stream_consumed = False
            response.default_encoding = "utf-8"
            response.stream = Body(conn, timeouts.get("read"), pool.release)
            response._num_bytes_downloaded = 0
            return response
        raise AssertionError("unreachable: the second try returns or raises")

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._fallback is not None:
            await self._fallback.aclose()

    async def _elsewhere(self, request: httpx.Request) -> httpx.Response:
        if self._fallback is None:
            self._fallback = httpx.AsyncHTTPTransport(verify=self._tls, limits=self._limits)
        return await self._fallback.handle_async_request(request)

    def _pool_on(self, loop: asyncio.AbstractEventLoop) -> Pool:
        """The pool of this event loop: connections are bound to the loop that opened them, so
        a client used on a new loop (a CLI's second ``asyncio.run``) starts a new pool."""
        pool = self._pool
        if pool is None or pool.loop is not loop:
            if pool is not None and not pool.loop.is_closed():
                pool.close()
            pool = self._pool = Pool(loop, self._limits)
        return pool

    async def _open(
        self, loop: asyncio.AbstractEventLoop, pool: Pool, key: Key, seconds: float | None
    ) -> Connection:
        scheme, host, port = key
        tls = self._tls if scheme == b"https" else None
        return await connect(lambda: Connection(loop, key, pool.forget), host, port, tls, seconds)


# The header lines before a ``Content-Length`` as ``_known_lines`` found them, by those headers:
# the same on every request of one account to one provider. Bounded: emptied when full (an
# account's headers change rarely; the next request fills it again).
_KNOWN_LINES: Memo[tuple[_Kept, ...], tuple[bool, bool, bytes]] = Memo(256)


def _known_lines(kept: list[_Kept]) -> tuple[bool, bool, bytes | None]:
    """``_asks``, and the header lines of the request's head with the blank line that ends
    them when they are known good. ``kept``: the headers as httpx keeps them (name, lowered
    name, value). For a request whose last header is a ``Content-Length`` of digits (as httpx
    and ``UpstreamClient`` write it for a body), the rest is looked up by value, checked and
    written once (3.9 -> 0.4 µs a request). None: ``_lines`` is still to check them (and
    refuses them if they are bad)."""
    if kept:
        name, lowered, length = kept[-1]
        if lowered == b"content-length" and length.isdigit():
            before = tuple(kept[:-1])
            known = _checked_lines(before)
            if known is None:
                return (*_asks([(key, value) for key, _, value in before]), None)
            upgrade, close, lines = known
            return upgrade, close, b"%s%s: %s\r\n\r\n" % (lines, name, length)
    upgrade, close = _asks([(key, value) for key, _, value in kept])
    return upgrade, close, None


def _checked_lines(before: tuple[_Kept, ...]) -> tuple[bool, bool, bytes] | None:
    """``_asks`` of these headers and their lines, checked and written once; None when
    ``_lines`` refuses them (never remembered: it is asked again, and refuses again)."""
    known = _KNOWN_LINES.get(before)
    if known is None:
        raw = [(key, value) for key, _, value in before]
        upgrade, close = _asks(raw)
        try:
            lines = _lines(raw)
        except httpx.LocalProtocolError:
            return None
        known = _KNOWN_LINES.keep(before, (upgrade, close, lines))
    return known


class _Head:
    """A request's head but its ``Content-Length`` line, and where it goes."""

    __slots__ = ("close", "head", "key")

    def __init__(self, key: Key, head: bytes, close: bool) -> None:
        self.key = key
        self.head = head  # the request line and every header line before Content-Length
        self.close = close


# The heads ``_known_head`` wrote, by method, URL object and the headers before Content-Length
# (one account's requests to one provider: the same on each). None: not one of those requests.
# Bounded: emptied when full.
_HEADS: IdMemo[tuple[object, ...], _Head | None] = IdMemo(256)


def _known_head(request: httpx.Request) -> _Head | None:
    """For a request with a body of bytes whose last header is a ``Content-Length`` of digits
    (what ``UpstreamClient`` and httpx build for ``dispatch``), served here: its head but the
    last line, worked out once by ``_where``, ``_known_lines`` and ``_request_line`` (one
    look-up where those were three, ~10 µs before a stream's first byte, run cold); held
    equal to them by tests/functional/http_transport/test_answers.py. None for any other."""
    kept = request.headers._list
    if not kept or type(request.stream) is not httpx.ByteStream:
        return None
    _, lowered, length = kept[-1]
    if lowered != b"content-length" or not length.isdigit():
        return None
    url = request.url
    memo = (request.method, id(url), *kept[:-1])
    known = _HEADS.get(memo)
    if known is not None:
        return known
    if memo in _HEADS:
        return None
    key, raw_path = _where(url)
    checked = _checked_lines(tuple(kept[:-1]))
    if key is None or request.method in _ELSEWHERE or checked is None or checked[0]:
        _HEADS.keep(memo, None)  # holds no URL: an id reused after is served the long way
        return None
    _, close, lines = checked
    head = _request_line(request.method, raw_path) + lines
    return _HEADS.keep(memo, _Head(key, head, close), url)


def _asks(raw: Sequence[tuple[bytes, bytes]]) -> tuple[bool, bool]:
    """Whether the headers ask for an ``Upgrade``, and whether for the connection's close
    (``Connection: close``): read off the raw headers in one pass, as ``"upgrade" in
    request.headers`` would say but without its decoding every header first (~5 µs)."""
    upgrade = close = False
    for name, value in raw:
        size = len(name)
        if size == 7 and name.lower() == b"upgrade":
            upgrade = True
        elif size == 10 and name.lower() == b"connection" and b"close" in value.lower():
            close = True
    return upgrade, close


# What ``_where`` read off a URL, by the URL object: the client makes one per provider URL
# (``client._url``) and httpx's are immutable. Bounded: emptied when full.
_WHERE: IdMemo[int, tuple[Key | None, bytes]] = IdMemo(256)


def _where(url: httpx.URL) -> tuple[Key | None, bytes]:
    """The pool's key for the URL's origin (None for a scheme not served here) and the path of
    its request line: read once per URL object (~0.9 µs of httpx's properties a request)."""
    known = _WHERE.get(id(url))
    if known is None:
        scheme = url.raw_scheme
        port = _PORTS.get(scheme)
        key = None if port is None else (scheme, url.raw_host.decode("ascii"), url.port or port)
        known = _WHERE.keep(id(url), (key, url.raw_path), url)
    return known


def _request_line(method: str, raw_path: bytes) -> bytes:
    return b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), raw_path)


def _lines(raw: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The header lines of a request's head, each ending in CRLF, as h11 would write them
    (names as given), refusing what h11 refuses: a name that is not a token, a value with CR,
    LF or NUL. All names and all values are checked in one match each (~3 µs less than one
    each); the header refused is then looked for."""
    names = b":".join([name for name, _ in raw])
    if raw and (
        not _TOKENS.fullmatch(names)
        or names.count(b":") != len(raw) - 1  # a name with a ":" of its own
        or _BAD_VALUE.search(b"".join([value for _, value in raw]))
    ):
        for name, value in raw:
            if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                raise httpx.LocalProtocolError(f"illegal header {name!r}")
    return b"".join([b"%s: %s\r\n" % header for header in raw])


async def _write_stream(
    conn: Connection, head: bytes, request: httpx.Request, seconds: float | None
) -> None:
    """A body that is not bytes: as it comes, chunked when the request says so (httpx does
    when it has no length)."""
    chunked = "content-length" not in request.headers and "chunked" in request.headers.get(
        "transfer-encoding", ""
    )
    if conn.write(head):
        await conn.drain(seconds)
    assert isinstance(request.stream, httpx.AsyncByteStream)
    async for part in request.stream:
        if part and conn.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part):
            await conn.drain(seconds)
    if chunked and conn.write(_CHUNK_END):
        await conn.drain(seconds)
