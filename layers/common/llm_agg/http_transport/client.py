"""``UpstreamClient``: the ``httpx.AsyncClient`` the gateway calls providers with.

Two things differ from a plain ``AsyncClient``, both through httpx's public API:

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

What providers see is unchanged: httpx's default headers (``User-Agent: python-httpx/…``,
``Accept``, ``Accept-Encoding``, ``Connection``), merged by httpx's ``build_request``.
Redirects are never followed (``follow_redirects=False``, httpx's default, made explicit): a
3xx is an answer like any other, and ``dispatch`` treats it as a failed attempt.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx

# httpx's own request log line (INFO on the "httpx" logger), kept for whoever turns it on.
_httpx_log = logging.getLogger("httpx")


class _NoCookies(CookieJar):
    """A jar that keeps nothing: answers' cookies are dropped, so none is ever sent."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


@lru_cache(maxsize=512)
def _url(url: str) -> httpx.URL:
    # A provider's URL is the same string on every request: parse it once (~15 µs each time).
    # ``httpx.URL`` is immutable, so one object may serve every request.
    return httpx.URL(url)


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

    @property
    def cookies(self) -> httpx.Cookies:
        return super().cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        # httpx's setter would put a fresh, keeping jar in place of ours.
        raise AttributeError("the upstream client keeps no cookies")

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Request:
        return super().build_request(method, _url(url) if isinstance(url, str) else url, **kwargs)

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        transport = self._direct
        hooks = self.event_hooks
        if (
            transport is None
            or auth is not httpx.USE_CLIENT_DEFAULT
            or follow_redirects not in (httpx.USE_CLIENT_DEFAULT, False)
            or self.auth is not None
            or request.url.userinfo  # httpx would answer with basic auth
            or hooks["request"]
            or hooks["response"]
        ):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": self.timeout.as_dict()}
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's send does: the error says which request failed
            raise
        response.request = request
        if _httpx_log.isEnabledFor(logging.INFO):
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
