"""``UpstreamClient.build_request`` builds the requests ``dispatch`` sends without httpx's
merges: whatever it builds must be the request httpx's own ``build_request`` gives for the same
arguments (headers and their order, URL, body, timeouts in ``extensions``), and whatever it
refuses must fail as httpx's does. Each case here is built both ways and compared."""

from __future__ import annotations

from typing import Any
from unittest import mock

import httpx
import pytest

from llm_agg.http_transport import UpstreamClient

BODY = b'{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"hi"}]}'
AUTH = {"content-type": "application/json", "authorization": "Bearer gsk_not_a_secret"}


def client() -> UpstreamClient:
    return UpstreamClient(
        timeout=httpx.Timeout(5.0, connect=2.0),
        limits=httpx.Limits(),
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
    )


def httpx_own(upstream: UpstreamClient, method: str, url: Any, **kwargs: Any) -> httpx.Request:
    return httpx.AsyncClient.build_request(upstream, method, url, **kwargs)


def facts(request: httpx.Request) -> dict[str, Any]:
    return {
        "attributes": sorted(vars(request)),
        # Before anything reads them (``encoding`` is worked out on first use).
        "headers as kept": vars(request.headers).copy(),
        "method": request.method,
        "url": request.url,
        "url text": str(request.url),
        "headers": request.headers.raw,
        "encoding": request.headers.encoding,
        "extensions": request.extensions,
        "timeout types": {k: type(v) for k, v in request.extensions["timeout"].items()},
        "content": request.content,
        "stream": type(request.stream),
        "streamed": b"".join(request.stream),  # type: ignore[arg-type]
    }


def assert_as_httpx(
    upstream: UpstreamClient, method: str, url: Any, *, own: bool = True, **kwargs: Any
) -> None:
    """``own``: the request is one ``UpstreamClient`` builds itself, never calling httpx's."""
    if own:
        with mock.patch.object(httpx.AsyncClient, "build_request", side_effect=AssertionError):
            ours = upstream.build_request(method, url, **kwargs)
    else:
        ours = upstream.build_request(method, url, **kwargs)
    theirs = httpx_own(upstream, method, url, **kwargs)
    assert facts(ours) == facts(theirs)
    # Its own objects: changing one request's timeouts changes no other.
    assert ours.extensions["timeout"] is not upstream.build_request(method, url, **kwargs)


Case = tuple[str, Any, dict[str, Any]]
OWN: dict[str, Case] = {
    "what dispatch sends": (
        "POST",
        "https://api.groq.com/openai/v1/chat/completions",
        {"content": BODY, "headers": AUTH, "timeout": 30.0},
    ),
    "a port and a query": (
        "POST",
        "http://127.0.0.1:8080/v1beta/models/x:streamGenerateContent?alt=sse",
        {"content": BODY, "headers": {"x-goog-api-key": "k"}, "timeout": 30},
    ),
    "a URL object": (
        "POST",
        httpx.URL("https://api.example.test/v1/chat/completions"),
        {"content": BODY, "headers": AUTH},
    ),
    "an IPv6 host": ("POST", "http://[::1]:8000/v1/chat", {"content": BODY, "headers": AUTH}),
    "an IDNA host": ("POST", "https://bücher.example/v1/chat", {"content": BODY}),
    "no headers": ("POST", "https://api.example.test/v1/chat", {"content": BODY}),
    "headers None": (
        "POST",
        "https://api.example.test/v1/chat",
        {"content": BODY, "headers": None},
    ),
    "an empty POST": ("POST", "https://api.example.test/v1/chat", {"content": b""}),
    "an empty GET": (
        "GET",
        "https://api.example.test/v1/models",
        {"content": b"", "headers": AUTH},
    ),
    "a GET with a body": ("GET", "https://api.example.test/v1/models", {"content": BODY}),
    "a lower-case method": ("post", "https://api.example.test/v1/chat", {"content": BODY}),
    "defaults overridden in any case": (
        "POST",
        "https://api.example.test/v1/chat",
        {
            "content": BODY,
            "headers": {"user-agent": "mine", "ACCEPT-ENCODING": "identity", "Connection": "close"},
        },
    ),
    "bytes names and values, one name twice in two cases": (
        "POST",
        "https://api.example.test/v1/chat",
        {
            "content": BODY,
            "headers": {b"X-Team": b"a", "x-team": "b", "Accept": b"text/event-stream"},
        },
    ),
    "the client's timeout": ("POST", "https://api.example.test/v1", {"content": BODY}),
    "no timeout": ("POST", "https://api.example.test/v1", {"content": BODY, "timeout": None}),
    "a Timeout": (
        "POST",
        "https://api.example.test/v1",
        {"content": BODY, "timeout": httpx.Timeout(1.0, read=9.0)},
    ),
}
# Left to httpx's build_request.
ELSEWHERE: dict[str, Case] = {
    "a timeout tuple": (
        "POST",
        "https://api.example.test/v1",
        {"content": BODY, "timeout": (1.0, 2.0, 3.0, 4.0)},
    ),
    "a Host given": (
        "POST",
        "https://api.example.test/v1",
        {"content": BODY, "headers": {"Host": "elsewhere.test"}},
    ),
    "a Content-Length given": (
        "POST",
        "https://api.example.test/v1",
        {"content": BODY, "headers": {"content-length": str(len(BODY))}},
    ),
    "a Transfer-Encoding given": (
        "POST",
        "https://api.example.test/v1",
        {"content": BODY, "headers": {"Transfer-Encoding": "chunked"}},
    ),
    "str content": ("POST", "https://api.example.test/v1", {"content": "héllo"}),
    "json": ("POST", "https://api.example.test/v1", {"json": {"a": 1}, "headers": AUTH}),
    "params": ("POST", "https://api.example.test/v1?a=1", {"content": BODY, "params": {"b": 2}}),
    "headers as a list": (
        "POST",
        "https://api.example.test/v1",
        {"content": BODY, "headers": [("x-a", "1"), ("x-a", "2")]},
    ),
    "a relative URL": ("POST", "/v1/chat", {"content": BODY}),
}


@pytest.mark.parametrize("case", OWN)
def test_the_request_built_is_httpx_own(case: str) -> None:
    method, url, kwargs = OWN[case]
    assert_as_httpx(client(), method, url, **kwargs)


@pytest.mark.parametrize("case", ELSEWHERE)
def test_what_it_does_not_build_httpx_builds(case: str) -> None:
    method, url, kwargs = ELSEWHERE[case]
    assert_as_httpx(client(), method, url, own=False, **kwargs)


def test_headers_given_again_build_the_same_requests() -> None:
    # What a set of headers merges to is remembered (UpstreamClient._merge): every case, twice
    # over on one client, is still httpx's own, and what httpx builds stays httpx's to build.
    upstream = client()
    for _ in range(2):
        for method, url, kwargs in OWN.values():
            assert_as_httpx(upstream, method, url, **kwargs)
        for method, url, kwargs in ELSEWHERE.values():
            assert_as_httpx(upstream, method, url, own=False, **kwargs)
            with (
                mock.patch.object(httpx.AsyncClient, "build_request", side_effect=AssertionError),
                pytest.raises(AssertionError),
            ):
                upstream.build_request(method, url, **kwargs)


def test_the_client_headers_changed_in_place_or_replaced_are_followed() -> None:
    upstream = client()
    assert_as_httpx(upstream, "POST", "https://api.example.test/v1", content=BODY, headers=AUTH)
    upstream.headers["X-Team"] = "gateway"
    del upstream.headers["accept"]
    assert_as_httpx(upstream, "POST", "https://api.example.test/v1", content=BODY, headers=AUTH)
    upstream.headers = {"User-Agent": "llm-agg"}  # type: ignore[assignment]
    assert_as_httpx(upstream, "POST", "https://api.example.test/v1", content=BODY, headers=AUTH)
    sent = upstream.build_request("POST", "https://x.test/", content=b"").headers
    assert sent["user-agent"] == "llm-agg"
    assert "x-team" not in sent


def test_a_request_built_again_follows_the_client_and_its_own_arguments() -> None:
    # What dispatch's requests are built from is remembered by their arguments
    # (UpstreamClient._templates): the client's headers and params changed afterwards, or a
    # timeout of another type, still give httpx's own request.
    upstream = client()
    url = "https://api.example.test/v1/chat"
    for timeout in (30.0, 30, None, 30.0):
        assert_as_httpx(upstream, "POST", url, content=BODY, headers=AUTH, timeout=timeout)
    upstream.headers["X-Team"] = "gateway"
    assert_as_httpx(upstream, "POST", url, content=BODY, headers=AUTH, timeout=30.0)
    upstream.params = {"key": "v"}  # type: ignore[assignment]
    assert_as_httpx(upstream, "POST", url, own=False, content=BODY, headers=AUTH, timeout=30.0)
    upstream.params = {}  # type: ignore[assignment]
    assert_as_httpx(upstream, "POST", url, content=BODY, headers=AUTH, timeout=30.0)
    assert_as_httpx(upstream, "POST", "/relative", own=False, content=BODY, timeout=30.0)
    assert_as_httpx(upstream, "POST", "/relative", own=False, content=BODY, timeout=30.0)
    one = upstream.build_request("POST", url, content=BODY, headers=AUTH, timeout=30.0)
    two = upstream.build_request("POST", url, content=b"{}", headers=AUTH, timeout=30.0)
    assert one.headers["content-length"] == str(len(BODY)) and two.content == b"{}"
    assert one.headers._list is not two.headers._list


def test_client_params_are_merged_as_httpx_merges_them() -> None:
    upstream = client()
    upstream.params = {"key": "v"}  # type: ignore[assignment]
    assert_as_httpx(upstream, "POST", "https://api.example.test/v1?a=1", own=False, content=BODY)


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer clé"},  # not ASCII
        {"x-count": 3},  # not a string
        {3: "x"},  # a name that is not a string
        {"x-list": ["a"]},  # a value that cannot even be hashed
    ],
)
def test_a_header_httpx_cannot_encode_fails_as_in_httpx(headers: dict[Any, Any]) -> None:
    upstream = client()
    with pytest.raises(Exception) as theirs:
        httpx_own(upstream, "POST", "https://api.example.test/v1", content=BODY, headers=headers)
    for _ in range(2):  # and again: nothing of a refused set of headers is remembered
        with pytest.raises(type(theirs.value)) as ours:
            upstream.build_request(
                "POST", "https://api.example.test/v1", content=BODY, headers=headers
            )
        assert str(ours.value) == str(theirs.value)


KNOWN: dict[str, dict[str, Any]] = {
    name: kwargs
    for name, (method, url, kwargs) in OWN.items()
    if method == "POST" and type(url) is str and "timeout" in kwargs
}


@pytest.mark.parametrize("case", sorted(KNOWN))
def test_a_request_built_by_its_origin_is_the_one_httpx_builds(case: str) -> None:
    # build_known finds the template by the origin's identity: the same request as httpx's,
    # again from memory, and the client's default headers changed in between are heeded.
    kwargs = KNOWN[case]
    url = OWN[case][1]
    upstream = client()
    origin = (url, kwargs.get("headers"))
    headers = dict(kwargs.get("headers") or {})

    def known() -> httpx.Request:
        return upstream.build_known(origin, url, kwargs["content"], headers, kwargs["timeout"])

    for _ in range(2):
        assert facts(known()) == facts(httpx_own(upstream, "POST", url, **kwargs))
    upstream.headers["x-added"] = "later"
    ours = known()
    assert facts(ours) == facts(httpx_own(upstream, "POST", url, **kwargs))
    assert ours.headers["x-added"] == "later"


def test_each_origin_and_timeout_is_its_own_and_what_httpx_must_build_goes_there() -> None:
    upstream = client()
    url = "https://api.example.test/v1/chat"
    first, second = ("a",), ("b",)
    a = upstream.build_known(first, url, BODY, {"x-key": "a"}, 30.0)
    b = upstream.build_known(second, url, BODY, {"x-key": "b"}, 30.0)
    slow = upstream.build_known(first, url, BODY, {"x-key": "a"}, 90.0)
    assert (a.headers["x-key"], b.headers["x-key"]) == ("a", "b")
    assert slow.extensions["timeout"]["read"] == 90.0 and a.extensions["timeout"]["read"] == 30.0
    # A Host of its own: httpx's build decides, from memory too.
    for _ in range(2):
        hosted = upstream.build_known(("c",), url, BODY, {"Host": "elsewhere.test"}, 30.0)
        theirs = httpx_own(
            upstream, "POST", url, content=BODY, headers={"Host": "elsewhere.test"}, timeout=30.0
        )
        assert facts(hosted) == facts(theirs)
