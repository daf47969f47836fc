"""``UpstreamClient``: the ``httpx.AsyncClient`` the gateway calls providers with.

Three things differ from a plain ``AsyncClient``:

- **No cookies, ever.** httpx's client keeps every ``Set-Cookie`` an upstream answers with and
  sends it with later requests to that host. One process serves many accounts and many gateway
  keys through one client, so a cookie a provider set in one account's answer would go out with
  another account's (or another key's) request. The client's jar here stores nothing (and
  parsing ``Set-Cookie`` was ~10% of the client's CPU per request).
- **``send`` goes straight to our transport** when nothing of httpx's client machinery applies
  (no auth, no event hooks, redirects not followed: the gateway uses none of them). httpx's own
  ``send`` then only adds work: an auth flow generator, a redirect loop that builds the next
  request for every 3xx, the cookie jar's urllib adapters, a wrapper around the body. Anything
  else (auth, hooks, following redirects, a client on httpx's own transports because the
  environment names a proxy) takes httpx's ``send`` unchanged.
- **``build_request`` builds the usual request directly**: a ``POST`` of bytes with a dict of
  headers to an absolute URL, what ``dispatch`` sends (~20 µs a request in httpx's
  ``build_request``: two header merges, a URL merge, the content encoded, the headers rebuilt
  in ``Request._prepare``; ~5 µs here). The URL is parsed once per string, the client's
  default headers are encoded once (and re-read when someone changes them), the timeouts
  dict made once per value, and the ``Request`` and its ``Headers`` are given the attributes
  their constructors would leave (the one place this module uses httpx's internals; a test
  compares them with httpx's own build). Anything else (other arguments, a relative URL,
  query params or ``Host``/``Content-Length``/``Transfer-Encoding`` given) takes httpx's own.

What providers see is unchanged: httpx's default headers (``User-Agent: python-httpx/…``,
``Accept``, ``Accept-Encoding``, ``Connection``), then the request's, with ``Host`` first and
``Content-Length`` as httpx writes them (a test pins the fast path to httpx's own).
Redirects are never followed (``follow_redirects=False``, httpx's default, made explicit): a
3xx is an answer like any other, and ``dispatch`` treats it as a failed attempt.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from http.cookiejar import Cookie, CookieJar
from typing import Any, Final

import httpx
from httpx._client import ClientState

from llm_agg.memo import IdMemo, Memo

# httpx's own request log line (INFO on the "httpx" logger), kept for whoever turns it on.
_httpx_log = logging.getLogger("httpx")


class _NoCookies(CookieJar):
    """A jar that keeps nothing: answers' cookies are dropped, so none is ever sent."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


# (raw name, lowercased name, value): a header as httpx's ``Headers`` keeps it.
_Line = tuple[bytes, bytes, bytes]
_Defaults = tuple[_Line, ...]


@lru_cache(maxsize=512)
def _url(url: str) -> tuple[httpx.URL, _Line | None]:
    # A provider's URL is the same string on every request: parse it once (~15 µs each time).
    # ``httpx.URL`` is immutable, so one object may serve every request. With it, the ``Host``
    # header httpx's ``Request`` adds for it.
    parsed = httpx.URL(url)
    return parsed, _host(parsed)


def _host(url: httpx.URL) -> _Line | None:
    return (b"Host", b"host", url.netloc) if url.host else None


# What ``build_request`` builds itself; anything else goes to httpx's (see the module's doc).
_OWN_ARGUMENTS: Final = frozenset({"content", "headers", "timeout"})
# Headers httpx's ``Request._prepare`` writes unless given: given, httpx's build decides.
_AUTOMATIC: Final = frozenset({b"host", b"content-length", b"transfer-encoding"})
# The methods httpx gives ``Content-Length: 0`` when they have no body.
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
_NO_LENGTH: Final = (b"Content-Length", b"content-length", b"0")
_UseClientDefault: Final = type(httpx.USE_CLIENT_DEFAULT)
_CLOSED: Final = ClientState.CLOSED
# The timeouts a template is made for: seconds, or none (typed: 30 and 30.0 are two).
_SECONDS: Final = frozenset({int, float, type(None)})


class _Template:
    """What a request with a body is built from, for one method, URL, set of headers and
    timeout: everything but its body and ``Content-Length``. ``known``: what the transport
    worked out once of the requests built from it (their head but ``Content-Length``), or
    ``UNKNOWN``."""

    __slots__ = ("known", "lines", "method", "timeouts", "url")

    def __init__(
        self, method: str, url: httpx.URL, lines: _Defaults, timeouts: dict[str, float | None]
    ) -> None:
        self.method = method
        self.url = url
        self.lines = lines  # Host, the defaults and the request's headers, merged
        self.timeouts = timeouts
        self.known: Any = UNKNOWN  # (the transport's own type: this module knows it not)

    def request(self, content: bytes) -> httpx.Request:
        """The request with ``content`` (not empty) as httpx builds it (see ``_build``)."""
        sent = Headers.__new__(Headers)
        sent.template = self
        sent._list = [*self.lines, (b"Content-Length", b"content-length", b"%d" % len(content))]
        sent._encoding = None
        request = httpx.Request.__new__(httpx.Request)
        request.method = self.method
        request.url = self.url
        request.headers = sent
        request.extensions = {"timeout": dict(self.timeouts)}  # the request's own, as httpx's
        stream = httpx.ByteStream.__new__(httpx.ByteStream)
        stream._stream = content  # httpx.ByteStream(content), without its __init__ call
        request.stream = stream
        request._content = content  # read, as httpx reads bytes content at once
        return request


UNKNOWN: Final = object()  # a template's ``known`` before the transport has read a request of it


class Headers(httpx.Headers):
    """httpx's ``Headers`` of a request built from a ``_Template``, knowing it until they are
    changed (set, deleted or updated: the ways httpx's ``Headers`` change): the transport then
    takes the request's head from what it worked out once of that template (``known``), not
    from a look-up of every header by value (~8 µs of a cold worker's CPU before each
    stream's first byte). Named as httpx's, and the template is in a slot: its ``repr`` and
    ``vars`` are those of httpx's."""

    __slots__ = ("template",)

    template: _Template | None

    def __setitem__(self, key: str, value: str) -> None:
        self.template = None
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.template = None
        super().__delitem__(key)

    def update(self, headers: Any = None) -> None:  # type: ignore[override]
        self.template = None
        super().update(headers)


@lru_cache(maxsize=64, typed=True)  # typed: 30 and 30.0 give dicts of an int and a float
def _timeouts(timeout: float | None) -> dict[str, float | None]:
    # ``extensions["timeout"]`` as httpx's ``build_request`` makes it from a number.
    return httpx.Timeout(timeout).as_dict()


def _header(key: Any, value: Any) -> tuple[bytes, bytes]:
    # As httpx's ``Headers`` encodes one (ASCII; a value neither str nor bytes: TypeError).
    raw_key = key if isinstance(key, bytes) else key.encode("ascii")
    if isinstance(value, str):
        return raw_key, value.encode("ascii")
    if isinstance(value, bytes):
        return raw_key, value
    raise TypeError(f"Header value must be str or bytes, not {type(value)}")


class UpstreamClient(httpx.AsyncClient):
    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float,
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            timeout=timeout,
            limits=limits,
            transport=transport,
            cookies=_NoCookies(),
            follow_redirects=False,
        )
        # The transport ``send`` may call directly: only one we were given (with none, httpx
        # chooses per URL among its proxy mounts).
        self._direct = transport
        # The default headers as last encoded, and what they were then (``self.headers`` is
        # mutable in place: compared on every request, re-encoded when it changed).
        self._defaults_seen: list[_Line] = []
        self._defaults: _Defaults = ()
        # A request's headers merged with the defaults as last encoded, by the headers given
        # (one account's are the same on each of its requests): None when one is automatic.
        self._merged: Memo[tuple[tuple[Any, Any], ...], tuple[_Defaults | None]] = Memo(256)
        # What ``dispatch``'s request (a method, a URL string, a dict of headers, bytes and a
        # number of seconds) builds from, by those arguments: one look-up a request in place
        # of a URL's, a merge's and a timeout's (None: httpx's build decides). Emptied with
        # ``_merged``, when the default headers change.
        self._templates: Memo[tuple[Any, ...], _Template | None] = Memo(256)
        # The same templates by what a caller of ``build_known`` vouches for (its origin's
        # id, and the timeout): emptied with them.
        self._known: IdMemo[tuple[int, Any], _Template | None] = IdMemo(256)

    @property
    def cookies(self) -> httpx.Cookies:
        return super().cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        # httpx's setter would put a fresh, keeping jar in place of ours.
        raise AttributeError("the upstream client keeps no cookies")

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Request:
        content = kwargs.get("content")
        headers = kwargs.get("headers")
        timeout = kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT)
        if (
            type(content) is bytes
            and content
            and type(url) is str
            and type(headers) is dict
            and type(timeout) in _SECONDS
            and kwargs.keys() <= _OWN_ARGUMENTS
            and not self._params._dict  # ``not self.params``, without its two calls
        ):
            if self._headers._list != self._defaults_seen:
                self._default_headers()  # changed: what was merged with them is forgotten
            template = self._remembered(method, url, headers, timeout)
            if template is not None:
                return template.request(content)
        return self._general(method, url, **kwargs)

    def build_known(
        self,
        origin: object,
        url: str,
        content: bytes,
        headers: dict[str, str],
        timeout: float | None,
    ) -> httpx.Request:
        """``build_request("POST", url, content=content, headers=headers, timeout=timeout)``
        for a caller that vouches that ``origin`` (an object it holds, and never changes while
        it does) stands for this URL and these headers: the request's template is found by
        the origin's identity and the timeout, not by every header's value (a tuple of them
        built and hashed: ~8 µs of a cold worker's CPU before each stream's first byte)."""
        if (
            type(content) is bytes
            and content
            and type(timeout) in _SECONDS  # (a key: a Timeout is not hashable)
            and not self._params._dict
        ):
            if self._headers._list != self._defaults_seen:
                self._default_headers()  # changed: what was worked out with them is forgotten
            key = (id(origin), timeout)
            try:
                template = self._known[key]
            except KeyError:
                # What build_request takes (a URL string, a dict, seconds), or httpx's build.
                plain = type(url) is str and type(headers) is dict
                found = self._remembered("POST", url, headers, timeout) if plain else None
                template = self._known.keep(key, found, origin)
            if template is not None:
                return template.request(content)
        return self.build_request("POST", url, content=content, headers=headers, timeout=timeout)

    def _remembered(
        self, method: str, url: str, headers: dict[Any, Any], timeout: float | None
    ) -> _Template | None:
        """The template ``build_request`` finds for these arguments (None: httpx's build)."""
        try:
            key = (method, url, type(timeout), timeout, *headers.items())
            template = self._templates[key]
        except KeyError:
            template = self._templates.keep(key, self._template(method, url, headers, timeout))
        except TypeError:  # a value that cannot be hashed: httpx refuses it
            template = None
        return template

    def _template(
        self, method: str, url: str, headers: dict[Any, Any], timeout: float | None
    ) -> _Template | None:
        parsed, host = _url(url)
        if parsed.is_relative_url:
            return None
        merged = self._merge(headers)
        if merged is None:
            return None
        lines = (host, *merged) if host is not None else merged
        return _Template(method.upper(), parsed, lines, _timeouts(timeout))

    def _general(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Request:
        parsed, host = _url(url) if isinstance(url, str) else (url, _host(url))
        content = kwargs.get("content")
        headers = kwargs.get("headers")
        if (
            kwargs.keys() <= _OWN_ARGUMENTS
            and type(content) is bytes
            and (headers is None or type(headers) is dict)
            and not parsed.is_relative_url
            and not self.params
        ):
            built = self._build(method.upper(), parsed, host, content, headers or {}, kwargs)
            if built is not None:
                return built
        return super().build_request(method, parsed, **kwargs)

    def _build(
        self,
        method: str,
        url: httpx.URL,
        host: _Line | None,
        content: bytes,
        headers: dict[Any, Any],
        kwargs: dict[str, Any],
    ) -> httpx.Request | None:
        """httpx's request for these arguments, built without its merges; None when a header
        httpx would treat apart is given."""
        merged = self._merge(headers)
        if merged is None:
            return None
        timeout = kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT)
        if isinstance(timeout, httpx.Timeout):
            timeouts = timeout.as_dict()
        elif isinstance(timeout, _UseClientDefault):
            timeouts = self.timeout.as_dict()
        elif timeout is None or isinstance(timeout, (int, float)):
            timeouts = dict(_timeouts(timeout))  # the request's own, as httpx's is
        else:
            return None  # a (connect, read, write, pool) tuple: httpx reads it
        if content:
            length = (b"Content-Length", b"content-length", b"%d" % len(content))
            lines = [host, *merged, length] if host is not None else [*merged, length]
        elif method in _BODY_METHODS:
            lines = [host, _NO_LENGTH, *merged] if host is not None else [_NO_LENGTH, *merged]
        else:
            lines = [host, *merged] if host is not None else list(merged)
        # httpx's Request and Headers as their constructors leave them (~3 µs of the ~4 their
        # __init__ take goes to checking and re-encoding headers already bytes). Their
        # attributes are pinned to httpx's own build by tests/unit/test_upstream_build_request.
        sent = httpx.Headers.__new__(httpx.Headers)
        sent._list = lines
        sent._encoding = None
        request = httpx.Request.__new__(httpx.Request)
        request.method = method
        request.url = url
        request.headers = sent
        request.extensions = {"timeout": timeouts}
        request.stream = httpx.ByteStream(content)
        request._content = content  # read, as httpx reads bytes content at once
        return request

    def _merge(self, headers: dict[Any, Any]) -> _Defaults | None:
        """The default headers but those ``headers`` name, then ``headers`` (encoded as httpx
        encodes them); None when one of them is a header httpx writes itself. Worked out once
        per set of headers (and of defaults): ~1.5 µs a request."""
        defaults = self._default_headers()
        key = tuple(headers.items())
        hashable = True
        try:
            known = self._merged.get(key)
        except TypeError:  # a value that cannot be hashed: httpx refuses it below
            hashable, known = False, None
        if known is not None:
            return known[0]
        given = [_header(name, value) for name, value in headers.items()]
        names = {name.lower() for name, _ in given}
        merged: _Defaults | None = None
        if names.isdisjoint(_AUTOMATIC):
            lines = [line for line in defaults if line[1] not in names]
            merged = (*lines, *((name, name.lower(), value) for name, value in given))
        if hashable:
            self._merged.keep(key, (merged,))
        return merged

    def _default_headers(self) -> _Defaults:
        # httpx's Headers keep (name, lowered name, value): the lines themselves.
        kept = self.headers._list
        if kept != self._defaults_seen:
            self._defaults_seen = list(kept)
            self._defaults = tuple(kept)
            self._merged.clear()  # merged with the defaults as they were
            self._templates.clear()
            self._known.clear()
        return self._defaults

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        transport = self._direct
        # httpx's ``auth``, ``event_hooks``, ``is_closed`` and ``url.userinfo`` read off what
        # those properties return (~4 µs less before a stream's first byte, run cold): the
        # same answers, pinned by tests/functional/http_transport/test_upstream_client.py.
        hooks = self._event_hooks
        if (
            transport is None
            or auth is not httpx.USE_CLIENT_DEFAULT
            or follow_redirects not in (httpx.USE_CLIENT_DEFAULT, False)
            or self._auth is not None
            or request.url._uri_reference.userinfo  # httpx would answer with basic auth
            or hooks["request"]
            or hooks["response"]
        ):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self._state is _CLOSED:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": self.timeout.as_dict()}
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's send does: the error says which request failed
            raise
        response._request = request  # the ``request`` property's setter, without its call
        try:
            # ``isEnabledFor(INFO)``: its cache's answer, without the method's frame once asked
            # (logging empties the cache whenever a level changes), run cold before every
            # stream's first byte.
            tell = not _httpx_log.disabled and _httpx_log._cache[logging.INFO]  # type: ignore[attr-defined]
        except KeyError:
            tell = _httpx_log.isEnabledFor(logging.INFO)
        if tell:
            _httpx_log.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response
