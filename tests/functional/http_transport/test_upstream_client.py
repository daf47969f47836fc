"""``UpstreamClient``, the gateway's ``httpx.AsyncClient``: it keeps no cookies (an answer's
``Set-Cookie`` never reaches a later request, whoever's), never follows a redirect, sends what
httpx sent before, and still runs httpx's own ``send`` for what it does not take over (auth,
event hooks, following redirects when asked)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from llm_agg.http_transport import upstream_client
from tests.fakes.raw_http import answer, keep_answering, raw_server
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio

SETS_COOKIE = answer(
    b"{}", extra="set-cookie: session=account-a; Path=/\r\nset-cookie: __cf_bm=x; Path=/\r\n"
)


def headers_of(request: bytes) -> dict[bytes, bytes]:
    head = request.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]
    return {name.lower(): value for name, _, value in (line.partition(b": ") for line in head)}


@pytest.mark.usefixtures("no_proxy_env")
@pytest.mark.parametrize("stream", [False, True])
async def test_a_cookie_an_upstream_sets_never_goes_out_again(stream: bool) -> None:
    limits = httpx.Limits(max_connections=10)
    async with (
        raw_server(keep_answering(SETS_COOKIE)) as server,
        upstream_client(timeout=httpx.Timeout(5.0), limits=limits) as client,
    ):
        for key in ("account-a", "account-b", "account-a"):
            request = client.build_request(
                "POST", server.url("/v1/chat/completions"), content=b"{}", headers={"k": key}
            )
            response = await client.send(request, stream=stream)
            await response.aread()
            await response.aclose()
            assert response.headers.get_list("set-cookie")  # the answer itself is untouched
        # The same through httpx's own send (auth given): no jar there either.
        await client.get(server.url("/v1/models"), auth=("user", "pass"))
        await client.get(server.url("/v1/models"))
        assert not client.cookies
    assert len(server.requests) == 5
    for sent in server.requests:
        assert b"cookie" not in headers_of(sent)


async def test_a_redirect_is_an_answer_never_followed(upstream: Client) -> None:
    moved = answer(b"", status="307 Temporary Redirect", extra="location: /elsewhere\r\n")
    async with raw_server(keep_answering(moved)) as server, upstream() as client:
        response = await client.post(server.url("/v1/chat/completions"), content=b"{}")
    assert response.status_code == 307
    assert response.headers["location"] == "/elsewhere"
    assert len(server.requests) == 1


async def test_what_a_provider_sees_is_httpx_defaults_and_ours(upstream: Client) -> None:
    async with raw_server(keep_answering()) as server, upstream() as client:
        request = client.build_request(
            "POST", server.url("/v1/chat/completions"), content=b"{}", headers={"x-api-key": "k"}
        )
        await client.send(request)
    sent = headers_of(server.requests[0])
    assert sent == {
        b"host": f"127.0.0.1:{server.port}".encode(),
        b"accept": b"*/*",
        b"accept-encoding": b"gzip, deflate",
        b"connection": b"keep-alive",
        b"user-agent": f"python-httpx/{httpx.__version__}".encode(),
        b"x-api-key": b"k",
        b"content-length": b"2",
    }


async def test_the_same_url_string_gives_equal_requests(upstream: Client) -> None:
    async with upstream() as client:
        first = client.build_request("GET", "https://example.test/v1/models?a=1")
        second = client.build_request("GET", "https://example.test/v1/models?a=1")
    assert first.url == second.url == httpx.URL("https://example.test/v1/models?a=1")
    assert first is not second


async def test_a_transport_error_names_its_request(upstream: Client, closed_port: int) -> None:
    async with upstream() as client:
        request = client.build_request("GET", f"http://127.0.0.1:{closed_port}/")
        with pytest.raises(httpx.ConnectError) as caught:
            await client.send(request)
    assert caught.value.request is request


async def test_event_hooks_and_auth_still_run_through_httpx(upstream: Client) -> None:
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(f"request {request.url.path}")

    async def on_response(response: httpx.Response) -> None:
        seen.append(f"response {response.status_code}")

    async with raw_server(keep_answering()) as server, upstream() as client:
        client.event_hooks = {"request": [on_request], "response": [on_response]}
        await client.get(server.url("/hooked"), auth=("user", "pass"))
    assert seen == ["request /hooked", "response 200"]
    assert headers_of(server.requests[0])[b"authorization"].startswith(b"Basic ")


@pytest.mark.parametrize("given", ["client auth", "request hook", "response hook", "userinfo"])
async def test_each_of_httpx_client_features_alone_still_runs_through_httpx(
    upstream: Client, given: str
) -> None:
    # UpstreamClient.send reads these off httpx's private attributes to go straight to the
    # transport: each one alone, set as httpx's API sets it, still sends through httpx's send.
    seen: list[str] = []

    async def hook(_: object) -> None:
        seen.append("hook")

    async with raw_server(keep_answering()) as server, upstream() as client:
        url = server.url("/v1/chat/completions")
        if given == "client auth":
            client.auth = ("user", "pass")
        elif given == "request hook":
            client.event_hooks = {"request": [hook]}
        elif given == "response hook":
            client.event_hooks["response"].append(hook)
        else:
            url = url.replace("http://", "http://user:pass@")
        request = client.build_request("POST", url, content=b"{}", headers={"x": "1"}, timeout=5.0)
        await client.send(request, stream=False)
        # Then without it, on the same client and URL: straight to the transport again.
        client.auth = None
        client.event_hooks = {}
        bare = client.build_request(
            "POST", server.url("/v1/chat/completions"), content=b"{}", headers={"x": "1"}
        )
        await client.send(bare)
    sent = [headers_of(r) for r in server.requests]
    if given in ("client auth", "userinfo"):
        assert sent[0][b"authorization"].startswith(b"Basic ")
    else:
        assert seen == ["hook"]
    assert b"authorization" not in sent[1]


async def test_following_redirects_when_asked_is_httpx_as_before(upstream: Client) -> None:
    async with raw_server(keep_answering(answer(b"arrived"))) as there:
        moved = answer(b"", status="302 Found", extra=f"location: {there.url('/there')}\r\n")
        async with raw_server(keep_answering(moved)) as here, upstream() as client:
            response = await client.get(here.url("/here"), follow_redirects=True)
    assert response.text == "arrived"
    assert [r.status_code for r in response.history] == [302]


async def test_a_closed_client_refuses_to_send(upstream: Client) -> None:
    async with upstream() as client:
        request = client.build_request("GET", "http://127.0.0.1:1/")
    with pytest.raises(RuntimeError, match="closed"):
        await client.send(request)


def test_the_cookie_jar_cannot_be_replaced() -> None:
    client = upstream_client(timeout=httpx.Timeout(1.0), limits=httpx.Limits())
    with pytest.raises(AttributeError):
        client.cookies = {"a": "b"}  # type: ignore[assignment]


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_httpx_s_request_line_is_logged_as_its_level_says(upstream: Client) -> None:
    # send reads the logger's cached answer itself: a level or a disabling set between two
    # requests is heeded at the next.
    logger = logging.getLogger("httpx")
    kept = Kept()
    level = logger.level
    logger.addHandler(kept)
    try:
        async with raw_server(keep_answering()) as server, upstream() as client:

            async def logged() -> bool:
                kept.messages.clear()
                await client.post(server.url("/v1/chat/completions"), content=b"{}")
                return any(m.startswith("HTTP Request: POST") for m in kept.messages)

            logger.setLevel(logging.WARNING)
            assert not await logged()
            assert not await logged()  # the cache's answer, asked again
            logger.setLevel(logging.INFO)
            assert await logged()
            assert await logged()
            logger.disabled = True
            try:
                assert not await logged()
            finally:
                logger.disabled = False
            logging.disable(logging.INFO)
            try:
                assert not await logged()
            finally:
                logging.disable(logging.NOTSET)
            assert await logged()
    finally:
        logger.removeHandler(kept)
        logger.setLevel(level)


async def test_a_built_request_changed_before_it_is_sent_goes_out_as_changed(
    upstream: Client,
) -> None:
    # The transport takes a built request's head from its template's memory only while its
    # headers, URL and method are the template's: any change made before sending goes out.
    async with raw_server(keep_answering()) as server, upstream() as client:

        def built() -> httpx.Request:
            request = client.build_request(
                "POST",
                server.url("/v1/chat/completions"),
                content=b"{}",
                headers={"k": "v"},
                timeout=5.0,
            )
            assert request.headers.template is not None  # type: ignore[attr-defined]
            return request

        changes: list[Any] = [
            lambda r: None,
            lambda r: None,  # the template's head, remembered
            lambda r: r.headers.__setitem__("k", "changed"),
            lambda r: r.headers.__delitem__("k"),
            lambda r: r.headers.update({"x-more": "1"}),
            lambda r: r.headers.setdefault("x-default", "2"),
            lambda r: setattr(r, "url", httpx.URL(server.url("/elsewhere"))),
        ]
        for change in changes:
            request = built()
            change(request)
            await client.send(request)
    sent = [(r.split(b" ", 2)[1], headers_of(r)) for r in server.requests]
    assert [path for path, _ in sent] == [b"/v1/chat/completions"] * 6 + [b"/elsewhere"]
    assert [h.get(b"k") for _, h in sent] == [b"v", b"v", b"changed", None, b"v", b"v", b"v"]
    assert sent[4][1][b"x-more"] == b"1" and sent[5][1][b"x-default"] == b"2"
    assert all(h[b"content-length"] == b"2" for _, h in sent)
