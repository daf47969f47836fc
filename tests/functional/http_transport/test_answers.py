"""What the upstream transport reads and writes, byte for byte against a loopback server: the
body framings, headers as sent, answers that break off, and what it refuses to send."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest

from llm_agg.http_transport import UpstreamTransport
from llm_agg.http_transport.transport import _where
from tests.fakes.raw_http import answer, keep_answering, raw_server, replies
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio


CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("parts", "close"),
    [
        ([answer(b"hello world")], False),
        ([CHUNKED, b"5\r\nhello\r\n", b"6\r\n world\r\n", b"0\r\n\r\n"], False),
        ([b"HTTP/1.1 200 OK\r\n\r\nhello", b" world"], True),
        ([b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nhello world"], True),
    ],
    ids=["content-length", "chunked", "read-to-close", "http-1.0"],
)
async def test_every_body_framing_is_read_whole(
    upstream: Client, parts: list[bytes], close: bool
) -> None:
    async with (
        raw_server(replies(*parts, end="close" if close else "open")) as server,
        upstream() as client,
    ):
        response = await client.get(server.url())
    assert (response.status_code, response.text) == (200, "hello world")


async def test_http_version_and_reason_are_the_servers(upstream: Client) -> None:
    reply = b"HTTP/1.0 201 Made It\r\ncontent-length: 0\r\n\r\n"
    async with raw_server(replies(reply, end="close")) as server, upstream() as client:
        response = await client.get(server.url())
    assert (response.http_version, response.reason_phrase) == ("HTTP/1.0", "Made It")


async def test_a_large_body_arrives_intact(upstream: Client) -> None:
    body = bytes(range(256)) * (8 * 4096)  # 8 MiB
    async with raw_server(keep_answering(answer(body))) as server, upstream() as client:
        response = await client.get(server.url())
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(body).digest()


async def test_header_names_keep_their_case_and_repeats_all_arrive(upstream: Client) -> None:
    reply = answer(extra="X-Request-Id: r-1\r\nVary: a\r\nvary: b\r\nset-cookie: x=1\r\n")
    async with raw_server(replies(reply)) as server, upstream() as client:
        response = await client.get(server.url())
    assert (b"X-Request-Id", b"r-1") in response.headers.raw
    assert response.headers.get_list("vary") == ["a", "b"]


async def test_the_answer_is_the_response_httpx_would_make_of_it(upstream: Client) -> None:
    # The transport sets the Response's attributes itself (handle_async_request): an httpx that
    # keeps them otherwise fails here.
    reply = answer(b"hi", extra="X-Request-Id: r-1\r\nVary: a\r\nvary: b\r\n")
    async with raw_server(replies(reply)) as server, upstream() as client:
        request = client.build_request("GET", server.url())
        ours = await client.send(request, stream=True)
        try:
            theirs = httpx.Response(
                ours.status_code,
                headers=ours.headers.raw,
                stream=ours.stream,
                extensions=dict(ours.extensions),
            )
            theirs.request = request
            assert vars(ours).keys() == vars(theirs).keys()
            assert {k: v for k, v in vars(ours).items() if k != "headers"} == {
                k: v for k, v in vars(theirs).items() if k != "headers"
            }
            assert vars(ours.headers) == vars(theirs.headers)
            assert await ours.aread() == b"hi"
        finally:
            await ours.aclose()


async def test_the_request_goes_out_as_httpx_built_it(upstream: Client) -> None:
    async with raw_server(keep_answering()) as server, upstream() as client:
        await client.post(
            server.url("/v1/chat?x=1"), content=b'{"a":1}', headers={"X-Api-Key": "k"}
        )
    sent = server.requests[0]
    head, _, body = sent.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"X-Api-Key: k" in lines and b"Content-Length: 7" in lines
    assert body == b'{"a":1}'


async def test_a_body_without_a_length_is_sent_chunked(upstream: Client) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b""
        yield b"world"

    async with raw_server(keep_answering()) as server, upstream() as client:
        await client.post(server.url(), content=parts())
        await client.get(server.url())  # the connection is still in step
    assert b"Transfer-Encoding: chunked" in server.requests[0]
    assert server.requests[0].endswith(b"\r\n\r\nhello world")
    assert server.connections == 1


async def test_an_answer_with_no_body_leaves_the_connection_reusable(upstream: Client) -> None:
    async with (
        raw_server(keep_answering(b"HTTP/1.1 204 No Content\r\n\r\n")) as server,
        upstream() as client,
    ):
        for _ in range(2):
            assert (await client.delete(server.url())).content == b""
    assert server.connections == 1


async def test_an_informational_answer_before_the_answer_is_skipped(upstream: Client) -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"done")
    async with raw_server(replies(reply)) as server, upstream() as client:
        response = await client.post(server.url(), content=b"x")
    assert (response.status_code, response.text) == (200, "done")


async def test_a_compressed_body_is_decoded_by_httpx_as_before(upstream: Client) -> None:
    reply = answer(gzip.compress(b"hello"), extra="content-encoding: gzip\r\n")
    async with raw_server(replies(reply)) as server, upstream() as client:
        assert (await client.get(server.url())).text == "hello"


@pytest.mark.parametrize(
    ("reply", "encoded"),
    [
        (answer(gzip.compress(b"hello"), extra="Content-Encoding: gzip\r\n"), True),
        (answer(b"hello", extra="content-type: text/plain\r\n"), False),
        # The informational answer's header is not the answer's.
        (b"HTTP/1.1 103 Early Hints\r\ncontent-encoding: gzip\r\n\r\n" + answer(b"x"), False),
    ],
    ids=["encoded", "plain", "after-103"],
)
async def test_the_body_says_whether_the_answer_is_encoded(
    upstream: Client, reply: bytes, encoded: bool
) -> None:
    # dispatch reads ``Body.encoded`` in place of looking through the answer's headers.
    async with raw_server(replies(reply)) as server, upstream() as client:
        response = await client.send(client.build_request("GET", server.url()), stream=True)
        assert response.stream.encoded is encoded  # type: ignore[attr-defined]
        assert encoded is ("content-encoding" in response.headers)
        await response.aclose()


@pytest.mark.parametrize(
    "parts",
    [
        [b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello"],
        [CHUNKED, b"5\r\nhello\r\n"],
    ],
    ids=["content-length", "chunked"],
)
async def test_a_body_cut_short_by_a_close_is_a_remote_protocol_error(
    upstream: Client, parts: list[bytes]
) -> None:
    async with raw_server(replies(*parts, end="close")) as server, upstream() as client:
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await client.get(server.url())


async def test_a_body_cut_short_by_a_reset_is_a_read_error(upstream: Client) -> None:
    parts = [b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello"]
    async with raw_server(replies(*parts, end="reset")) as server, upstream() as client:
        with pytest.raises(httpx.ReadError):
            await client.get(server.url())


@pytest.mark.parametrize(
    "reply",
    [b"HTTP/1.1 2x0 Nope\r\n\r\n", b"HTTP/1.1 200 OK\r\nx-long: " + b"a" * 200_000],
    ids=["bad-status", "endless-head"],
)
async def test_a_malformed_answer_is_a_remote_protocol_error(
    upstream: Client, reply: bytes
) -> None:
    async with raw_server(replies(reply)) as server, upstream() as client:
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await client.get(server.url())


async def test_bytes_after_a_complete_answer_keep_it_but_not_the_connection(
    upstream: Client,
) -> None:
    reply = answer() + b"HTTP/1.1 200 OK\r\n"
    async with raw_server(keep_answering(reply)) as server, upstream() as client:
        for _ in range(2):
            assert (await client.get(server.url())).text == "hello"
    assert server.connections == 2


@pytest.mark.parametrize(
    "headers",
    [{"x-evil": "a\r\nx-injected: 1"}, {"x-nul": "a\x00b"}],
    ids=["crlf", "nul"],
)
async def test_a_header_that_would_split_the_request_is_refused(
    upstream: Client, headers: dict[str, str]
) -> None:
    async with raw_server(keep_answering()) as server, upstream() as client:
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(server.url(), headers=headers)
    assert server.requests == []


@pytest.mark.parametrize(
    ("headers", "refused"),
    [({"x-ok": "1", "bad name": "a"}, b"bad name"), ({"": "a"}, b""), ({"x:y": "a"}, b"x:y")],
    ids=["space", "empty", "colon"],
)
async def test_a_header_name_that_is_not_a_token_is_refused_by_name(
    upstream: Client, headers: dict[str, str], refused: bytes
) -> None:
    async with raw_server(keep_answering()) as server, upstream() as client:
        with pytest.raises(httpx.LocalProtocolError, match=f"illegal header {refused!r}"):
            await client.get(server.url(), headers=headers)
    assert server.requests == []


async def test_the_request_head_is_written_in_the_order_httpx_built_it(upstream: Client) -> None:
    async with raw_server(keep_answering()) as server, upstream() as client:
        request = client.build_request(
            "POST",
            server.url("/v1/chat/completions?alt=sse"),
            content=b"{}",
            headers={"Authorization": "Bearer k", "x-Mixed-Case": "Value"},
        )
        await client.send(request)
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /v1/chat/completions?alt=sse HTTP/1.1",
        *(b"%s: %s" % header for header in request.headers.raw),
    ]
    assert body == b"{}"


@pytest.mark.parametrize(
    "headers",
    [{"x-evil": "a\r\nx-injected: 1"}, {"x-nul": "a\x00b"}, {"bad name": "a"}],
    ids=["crlf", "nul", "name"],
)
async def test_a_bad_header_is_refused_with_a_body_too_and_every_time(
    upstream: Client, headers: dict[str, str]
) -> None:
    # A request with a body ends in Content-Length: its other lines are written once and
    # remembered (transport._known_lines). Bad ones never are.
    async with raw_server(keep_answering()) as server, upstream() as client:
        for _ in range(2):
            with pytest.raises(httpx.LocalProtocolError):
                await client.post(server.url(), content=b"{}", headers=headers)
    assert server.requests == []


async def test_the_same_headers_again_are_written_alike_whatever_the_body(
    upstream: Client,
) -> None:
    headers = {"Authorization": "Bearer k", "Connection": "close"}
    bodies = [b"{}", b'{"a":1}', b"{}", b""]
    async with raw_server(keep_answering()) as server, upstream() as client:
        sent = [
            client.build_request("POST", server.url("/v1/x"), content=body, headers=headers)
            for body in bodies
        ]
        # A length given in lower case, last (httpx's build keeps it as given), twice.
        given = {**headers, "content-length": "2"}
        sent += [
            client.build_request("POST", server.url("/v1/x"), content=b"{}", headers=given)
            for _ in range(2)
        ]
        bodies += [b"{}", b"{}"]
        for request in sent:
            await client.send(request)
    assert len(server.requests) == len(bodies)
    for request, seen in zip(sent, server.requests, strict=True):
        lines = [b"POST /v1/x HTTP/1.1", *(b"%s: %s" % h for h in request.headers.raw)]
        assert seen == b"\r\n".join([*lines, b"", request.content])
    # Connection: close was heard each time, from the remembered lines too.
    assert server.connections == len(bodies)


@pytest.mark.parametrize("name", ["Upgrade", "UPGRADE", "upgrade"])
async def test_a_request_asking_for_an_upgrade_goes_to_httpx_transport(name: str) -> None:
    seen: list[httpx.Request] = []

    def fallback(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(101)

    transport = UpstreamTransport(fallback=httpx.MockTransport(fallback))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://127.0.0.1:1/ws", headers={name: "websocket"})
        plain = {"x-upgrade": "websocket", "upgrade-insecure-requests": "1"}
        with pytest.raises(httpx.ConnectError):  # its own, to a closed port
            await client.get("http://127.0.0.1:1/ws", headers=plain)
        # With a body (its head then remembered, transport._known_head), twice: the same.
        for _ in range(2):
            posted = await client.post("http://127.0.0.1:1/ws", content=b"{}", headers={name: "x"})
            assert posted.status_code == 101
            with pytest.raises(httpx.ConnectError):
                await client.post("http://127.0.0.1:1/ws", content=b"{}", headers=plain)
    assert response.status_code == 101
    assert len(seen) == 3


@pytest.mark.parametrize(
    "url",
    [
        "https://api.groq.com/openai/v1/chat/completions",
        "http://127.0.0.1:8080/v1beta/models/x:streamGenerateContent?alt=sse",
        "http://[::1]:8000/v1/chat",
        "https://bücher.example/v1/chat",
        "https://api.example.test",
        "ftp://127.0.0.1/file",
    ],
)
def test_what_is_read_off_a_url_is_what_httpx_says_of_it(url: str) -> None:
    # transport._where reads a URL once per URL object: the same facts each time, and a URL
    # object of its own for a new one.
    parsed = httpx.URL(url)
    port = {b"http": 80, b"https": 443}.get(parsed.raw_scheme)
    origin = (parsed.raw_scheme, parsed.raw_host.decode("ascii"), parsed.port or port)
    expected = (None if port is None else origin, parsed.raw_path)
    for _ in range(2):
        assert _where(parsed) == expected
    assert _where(httpx.URL(url)) == expected
