"""The served connection's read deadlines: the head due ``head_timeout`` after its first byte,
the body ``body_timeout`` after its head, neither once the request is whole; a request that
arrives whole in one read sets no timer at all. Driven through the protocol on a fake socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from llm_agg_local.http_limits import HttpLimits, LimitedHttpToolsProtocol
from tests.support.sockets import Socket

HEAD = b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 4\r\n\r\n"


async def echo(scope: Any, receive: Any, send: Any) -> None:
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body, more = body + message["body"], message["more_body"]
    if body == b"slow":
        await asyncio.sleep(0.5)
    length = str(len(body)).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
    )
    await send({"type": "http.response.body", "body": body})


class Fast(LimitedHttpToolsProtocol):
    limits = HttpLimits(max_head_bytes=1024, head_timeout=0.05, body_timeout=0.1)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    made = asyncio.new_event_loop()
    yield made
    made.close()


def connected(loop: asyncio.AbstractEventLoop, keep_alive: float = 5) -> tuple[Fast, Socket]:
    config = uvicorn.Config(
        echo, log_level="warning", proxy_headers=False, timeout_keep_alive=keep_alive
    )
    config.load()
    protocol = Fast(config, ServerState(), {}, loop)
    sock = Socket(loop)
    sock.protocol = protocol
    protocol.connection_made(sock)  # type: ignore[arg-type]
    return protocol, sock


def turns(loop: asyncio.AbstractEventLoop, seconds: float = 0.0) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))
    loop.run_until_complete(asyncio.sleep(0))


def deadline(protocol: Fast) -> float | None:
    return None if protocol._timer is None else protocol._timer.when()


def test_a_request_that_arrives_whole_sets_no_timer(loop: asyncio.AbstractEventLoop) -> None:
    protocol, sock = connected(loop)
    protocol.data_received(HEAD + b"ping")
    assert deadline(protocol) is None
    turns(loop)
    assert sock.out.startswith(b"HTTP/1.1 200 ") and sock.out.endswith(b"ping")
    protocol.data_received(HEAD + b"pong")  # the next one on the connection alike
    assert deadline(protocol) is None
    turns(loop)
    assert sock.out.endswith(b"pong") and not sock.closed


def test_the_head_is_due_after_its_first_byte_and_the_body_after_the_head(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, sock = connected(loop)
    protocol.data_received(HEAD + b"ping")
    turns(loop)
    sock.out = b""
    first = loop.time()
    protocol.data_received(HEAD[:10])
    head_due = deadline(protocol)
    assert head_due is not None and first + 0.05 <= head_due <= loop.time() + 0.05
    protocol.data_received(HEAD[10:20])
    assert deadline(protocol) == head_due  # more of the head does not extend it
    protocol.data_received(HEAD[20:] + b"pi")
    body_due = deadline(protocol)
    assert body_due is not None and body_due >= loop.time() + 0.1 - 0.01
    protocol.data_received(b"ng")
    assert deadline(protocol) is None
    turns(loop)
    assert sock.out.endswith(b"ping") and not sock.closed


@pytest.mark.parametrize(
    ("sent", "late"),
    [(b"", "headers"), (HEAD[:10], "headers"), (HEAD + b"pi", "body")],
)
def test_what_does_not_arrive_in_time_is_answered_408_and_closed(
    loop: asyncio.AbstractEventLoop, sent: bytes, late: str
) -> None:
    protocol, sock = connected(loop)
    if sent:
        protocol.data_received(sent)
    turns(loop, 0.2)
    assert sock.closed
    assert sock.out.startswith(b"HTTP/1.1 408 ")
    assert f"The request's {late} did not arrive in time.".encode() in sock.out


def test_an_idle_connection_is_closed_keep_alive_seconds_after_its_last_answer(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, sock = connected(loop, keep_alive=0.5)
    protocol.data_received(HEAD + b"ping")
    turns(loop, 0.3)
    assert sock.out.endswith(b"ping") and not sock.closed
    protocol.data_received(HEAD + b"pong")  # within the keep-alive: served
    turns(loop, 0.3)  # 0.6 s after the first answer, 0.3 s after this one
    assert sock.out.endswith(b"pong") and not sock.closed
    answered = sock.out
    turns(loop, 0.35)
    assert sock.closed and sock.out == answered  # closed without a word, as uvicorn does


def test_requests_back_to_back_make_no_timer_each(loop: asyncio.AbstractEventLoop) -> None:
    protocol, sock = connected(loop, keep_alive=5)
    made: list[float] = []
    at = loop.call_at  # asyncio's call_later calls it too
    loop.call_at = lambda when, *a, **k: made.append(when) or at(when, *a, **k)  # type: ignore[method-assign]
    for _ in range(20):
        protocol.data_received(HEAD + b"ping")
        turns(loop)
    assert sock.out.count(b"HTTP/1.1 200 ") == 20 and not sock.closed
    assert len(made) == 1  # the keep-alive's, once for the connection


def test_a_connection_busy_when_its_keep_alive_fell_due_is_idle_again_from_its_answer(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, sock = connected(loop, keep_alive=0.3)
    protocol.data_received(HEAD + b"ping")
    turns(loop, 0.1)
    protocol.data_received(HEAD + b"slow")  # answered 0.5 s later: busy past the deadline
    turns(loop, 0.6)  # 0.1 s after its answer
    assert sock.out.endswith(b"slow") and not sock.closed
    turns(loop, 0.35)
    assert sock.closed
