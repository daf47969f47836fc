"""The served protocol's own start of a request to a URL it has read before
(``LimitedHttpToolsProtocol.on_headers_complete``): the same scope, cycle and answer as uvicorn's
``HttpToolsProtocol`` gives, request after request on one connection, pipelined ones included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llm_agg.api.departure import DEPARTURE
from llm_agg_local import http_limits
from llm_agg_local.http_limits import LimitedHttpToolsProtocol
from tests.support.sockets import Socket, feed

CYCLE = ("keep_alive", "waiting_for_100_continue", "access_log", "default_headers", "more_body")


def served(kind: type[HttpToolsProtocol], reads: list[bytes]) -> tuple[list[Any], bytes]:
    """What an app saw of each request (its scope, its cycle's settings, its body) and the bytes
    answered, for ``reads`` fed to a new connection of ``kind``, a few loop turns after each."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        cycle = send.__self__
        settings = {name: getattr(cycle, name) for name in CYCLE}
        # Ours tells of the client's going (its departure, tests/functional/test_departure.py).
        kept = {k: v for k, v in scope.items() if k not in ("state", DEPARTURE)}
        seen.append((kept, settings, message["body"]))
        body = repr((scope["method"], scope["path"], scope["query_string"])).encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sock = Socket()
    feed(kind, app, sock, reads, 5)
    return seen, sock.out


def request(
    target: bytes, method: bytes = b"POST", version: bytes = b"1.1", *extra: bytes
) -> bytes:
    head = [method + b" " + target + b" HTTP/" + version, b"Host: 127.0.0.1:8000"]
    head += [*extra, b"Content-Length: 2", b"", b"{}"]
    return b"\r\n".join(head)


TARGETS = [
    b"/v1/chat/completions",
    b"/v1/models?limit=2",
    b"/v1/caf%C3%A9s",
    b"/v1/a%2Fb",
    b"//double",
    b"http://127.0.0.1:8000/absolute",
    b"/",
]


@pytest.fixture(autouse=True)
def forgotten() -> Iterator[None]:
    """Each test from nothing remembered, and nothing it planted left for the next."""
    http_limits._PATHS.clear()
    http_limits._LINES.clear()
    yield
    http_limits._PATHS.clear()
    http_limits._LINES.clear()


@pytest.mark.parametrize("target", TARGETS)
def test_a_url_read_before_starts_its_request_as_uvicorn_does(target: bytes) -> None:
    reads = [
        request(target),
        request(target),  # from what the protocol remembers of the first
        request(target, b"HEAD"),
        request(target, b"POST", b"1.1", b"Expect: 100-continue"),
        request(target, b"POST", b"1.0"),  # not kept alive: the last one answered
    ]
    ours = served(LimitedHttpToolsProtocol, reads)
    assert ours == served(HttpToolsProtocol, reads)
    assert len(ours[0]) == len(reads)
    closing = [request(target), request(target, b"POST", b"1.1", b"Connection: close")]
    assert served(LimitedHttpToolsProtocol, closing) == served(HttpToolsProtocol, closing)
    plain = b"?" not in target and target.startswith(b"/")
    assert (target in http_limits._PATHS) is plain


def test_pipelined_requests_are_answered_in_order_as_uvicorn_does() -> None:
    first = request(b"/v1/chat/completions")
    reads = [first, first + request(b"/v1/chat/completions") + request(b"/v1/models?x=1")]
    ours = served(LimitedHttpToolsProtocol, reads)
    assert ours == served(HttpToolsProtocol, reads)
    assert len(ours[0]) == 4


@pytest.mark.parametrize(
    "reads",
    [
        [b"GARBAGE\r\n\r\n"],
        [request(b"/v1/chat/completions"), b"POST /x HTTP/1.1\r\nBad Header\r\n\r\n"],
        [
            request(
                b"/v1/chat/completions", b"POST", b"1.1", b"Connection: upgrade", b"Upgrade: h2c"
            )
        ],
    ],
)
def test_what_the_parser_refuses_or_upgrades_is_answered_as_uvicorn_does(
    reads: list[bytes],
) -> None:
    ours = served(LimitedHttpToolsProtocol, reads)
    assert ours == served(HttpToolsProtocol, reads)
    assert ours[1]


LINE = b"POST /v1/chat/completions HTTP/1.1"
SPLITS = {
    "the line split across reads": [request(b"/v1/chat/completions")[:20], request(b"/v1")[20:]],
    "a blank line before it": [b"\r\n" + request(b"/v1/chat/completions")],
    "1.1 then 1.0 in one read": [request(b"/a") + request(b"/a", b"POST", b"1.0")],
    "1.0 then 1.1 in one read": [request(b"/a", b"GET", b"1.0") + request(b"/a")],
    # The second request's head ends in the next read, which begins with one of its headers.
    "a head continued in the next read": [
        request(b"/a") + b"POST /b HTTP/1.0\r\nHost: 127.0.0.1:8000\r\n",
        b"X-Line: a\r\nContent-Length: 2\r\n\r\n{}",
    ],
}


@pytest.mark.parametrize("reads", SPLITS.values(), ids=SPLITS.keys())
def test_the_method_and_version_remembered_by_request_line_are_uvicorns(
    reads: list[bytes],
) -> None:
    """Read twice over: the second time from what the first left remembered, if anything."""
    expected = served(HttpToolsProtocol, reads)
    assert served(LimitedHttpToolsProtocol, reads) == expected
    assert served(LimitedHttpToolsProtocol, reads) == expected
    for line, (method, version) in http_limits._LINES.items():
        assert line.startswith(method.encode() + b" ") and line.endswith(
            b"HTTP/" + version.encode()
        )
    assert b"X-Line: a" not in http_limits._LINES


def test_a_request_line_is_remembered_only_at_the_start_of_a_read_that_begins_a_request() -> None:
    """What is remembered under a line is read for a request whose read began with that line,
    and only for it: a read that continues a head is never taken for a request's line."""
    served(LimitedHttpToolsProtocol, [request(b"/v1/chat/completions")])
    assert http_limits._LINES == {LINE: ("POST", "1.1")}
    http_limits._LINES[LINE] = ("PUT", "1.1")  # a stand-in only this table could give
    seen, _ = served(LimitedHttpToolsProtocol, [request(b"/v1/chat/completions")])
    assert seen[0][0]["method"] == "PUT"
    # The same bytes at the start of a read that continues another request's head: not a line.
    http_limits._LINES[b"X-Line: a"] = ("PUT", "1.0")
    seen, _ = served(LimitedHttpToolsProtocol, SPLITS["a head continued in the next read"])
    assert [scope["method"] for scope, _, _ in seen] == ["POST", "POST"]
    assert seen[1][0]["http_version"] == "1.0"
