"""The served protocol's request cycle (``http_limits._Cycle``) keeps its message event's flag
itself, without an ``asyncio.Event``: what an app receives of a body that arrives in pieces
(chunked or not, after ``Expect: 100-continue``, larger than uvicorn's read-pause mark, cut off
by the client's going) and what the client is answered are uvicorn's, read after read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from llm_agg.api.arrived import TAKE
from llm_agg_local.http_limits import LimitedHttpToolsProtocol
from tests.support.sockets import GONE, Socket, feed


class Counted(Socket):
    """A socket that notes its reads being paused and resumed."""

    def __init__(self) -> None:
        super().__init__()
        self.flow: list[str] = []

    def pause_reading(self) -> None:
        self.flow.append("pause")

    def resume_reading(self) -> None:
        self.flow.append("resume")


def served(
    kind: type[HttpToolsProtocol], reads: list[bytes], take: bool = False
) -> tuple[Any, ...]:
    """Each message the app received (with the socket's pauses and resumes by then), what was
    written and the socket's pauses and resumes, for ``reads`` fed to a new connection of
    ``kind``, a few loop turns after each. With ``take``, the app takes the body whole when
    its server offers it (``llm_agg.api.arrived``) and receives it otherwise."""
    received: list[tuple[Any, ...]] = []
    sock = Counted()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        size = 0
        offer = getattr(getattr(receive, "__self__", None), TAKE, None) if take else None
        whole = None if offer is None else offer()
        if whole is not None:
            size = len(whole)
            received.append(("body", size, False, *sock.flow))
        while whole is None:
            message = await receive()
            if message["type"] == "http.disconnect":
                received.append(("gone", size, False, *sock.flow))
                return
            size += len(message["body"])
            received.append(("body", len(message["body"]), message["more_body"], *sock.flow))
            if not message["more_body"]:
                break
        body = str(size).encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    feed(kind, app, sock, reads, 5)
    return received, sock.out, sock.flow, sock.closed


HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
BIG = HIGH_WATER_LIMIT + 10


def sized(n: int, *extra: bytes) -> bytes:
    return HEAD + b"".join(e + b"\r\n" for e in extra) + b"Content-Length: %d\r\n\r\n" % n


CASES = {
    "whole": [sized(4) + b"ping"],
    "head, then the body": [sized(4), b"ping"],
    "body in three reads": [sized(6) + b"pi", b"ng", b"!!"],
    "chunked in pieces": [CHUNKED + b"2\r\npi\r\n", b"2\r\nng\r\n", b"0\r\n\r\n"],
    "chunked, whole": [CHUNKED + b"2\r\npi\r\n2\r\nng\r\n0\r\n\r\n"],
    "100-continue, body after": [sized(4, b"Expect: 100-continue"), b"ping"],
    "100-continue, body with it": [sized(4, b"Expect: 100-continue") + b"ping"],
    "over the pause mark": [sized(BIG) + b"x" * (BIG - 5), b"y" * 5],
    "gone before the body": [sized(4), GONE],
    "gone mid-body": [sized(6) + b"pi", GONE],
    "gone mid-chunked": [CHUNKED + b"2\r\npi\r\n", GONE],
    "two on the connection, the second in pieces": [
        sized(4) + b"ping",
        sized(4) + b"po",
        b"ng",
    ],
    "pipelined": [sized(4) + b"ping" + sized(2) + b"ab" + sized(3) + b"cd", b"e"],
}


@pytest.mark.parametrize("reads", CASES.values(), ids=CASES.keys())
def test_a_body_is_received_and_answered_as_uvicorn_does(reads: list[bytes]) -> None:
    ours = served(LimitedHttpToolsProtocol, reads)
    assert ours == served(HttpToolsProtocol, reads)
    assert ours[0]  # the app received something


def test_a_receive_waiting_for_the_body_is_told_of_the_client_going() -> None:
    received, out, _, _ = served(LimitedHttpToolsProtocol, [sized(6) + b"pi", GONE])
    assert received == [("body", 2, True), ("gone", 2, False)]
    assert out == b""  # nobody to answer


def test_a_body_in_pieces_is_received_piece_by_piece() -> None:
    received, out, _, _ = served(LimitedHttpToolsProtocol, CASES["chunked in pieces"])
    assert received == [("body", 2, True), ("body", 2, True), ("body", 0, False)]
    assert out.endswith(b"\r\n\r\n4")
    received, out, _, _ = served(LimitedHttpToolsProtocol, CASES["100-continue, body after"])
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert received == [("body", 4, False)]


def test_two_receivers_waiting_at_once_are_both_woken() -> None:
    """As ``asyncio.Event`` wakes every waiter: an app may listen for the client's going while
    reading (a watch task on ``receive()``, ``dispatch._Watch`` without a departure)."""
    loop = asyncio.new_event_loop()
    got: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got.extend(await asyncio.gather(receive(), receive()))

    try:
        config = uvicorn.Config(app, log_level="warning", proxy_headers=False)
        config.load()
        protocol = LimitedHttpToolsProtocol(config, ServerState(), {}, loop)
        protocol.connection_made(Socket())  # type: ignore[arg-type]
        protocol.data_received(sized(4))
        for _ in range(3):
            loop.run_until_complete(asyncio.sleep(0))
        assert got == []  # both waiting
        protocol.connection_lost(None)
        for _ in range(3):
            loop.run_until_complete(asyncio.sleep(0))
        assert got == [{"type": "http.disconnect"}] * 2
    finally:
        loop.close()


@pytest.mark.parametrize("reads", CASES.values(), ids=CASES.keys())
def test_a_body_taken_whole_is_what_receive_gives_and_answered_alike(reads: list[bytes]) -> None:
    """Taken whole where it has all arrived unreceived, received otherwise: the same body, the
    same 100 Continue, the same resumed reads, the same answers, as uvicorn's receive()."""
    assert served(LimitedHttpToolsProtocol, reads, take=True) == served(HttpToolsProtocol, reads)


def test_the_body_is_taken_only_whole_and_unreceived_then_receive_waits_for_the_end() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        take = getattr(receive.__self__, TAKE)
        seen.append(take())  # not all there yet
        seen.append(await receive())
        seen.append(take())  # some was received
        seen.append(await receive())
        seen.append(take())
        waiting = asyncio.ensure_future(receive())
        await asyncio.sleep(0)
        seen.append(waiting.done())
        seen.append(await waiting)

    feed(LimitedHttpToolsProtocol, app, Socket(), [sized(4) + b"pi", b"ng", GONE], 3)
    part = {"type": "http.request", "more_body": True}
    assert seen == [
        None,
        {**part, "body": b"pi"},
        None,
        {**part, "body": b"ng", "more_body": False},
        None,
        False,  # after the last of the body, receive() waits for the client's going
        {"type": "http.disconnect"},
    ]


def test_after_the_body_is_taken_receive_waits_for_the_client_going() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(getattr(receive.__self__, TAKE)())
        seen.append(getattr(receive.__self__, TAKE)())  # once only
        waiting = asyncio.ensure_future(receive())
        await asyncio.sleep(0)
        seen.append(waiting.done())
        seen.append(await waiting)

    feed(LimitedHttpToolsProtocol, app, Socket(), [sized(4) + b"ping", GONE], 3)
    assert seen == [b"ping", None, False, {"type": "http.disconnect"}]
