"""``served_cycle.Cycle`` writes what uvicorn's ``RequestResponseCycle`` writes and leaves the
cycle as uvicorn's does, for a head rendered anew or from memory, and for a chunked answer's
pieces framed in its own ``send``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from llm_agg_local import served_cycle
from llm_agg_local.served_cycle import Cycle

pytestmark = pytest.mark.anyio

DEFAULTS = [(b"date", b"Mon, 07 Dec 2026 01:00:00 GMT"), (b"server", b"uvicorn")]
RELAY = [
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-llm-agg-provider", b"groq"),
    (b"x-llm-agg-model", b"llama-3.3-70b-versatile"),
    (b"x-llm-agg-attempts", b"1"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Transport:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Flow:
    write_paused = False

    async def drain(self) -> None:
        self.write_paused = False


def cycle(
    kind: type[RequestResponseCycle],
    *,
    method: str = "POST",
    keep_alive: bool = True,
    defaults: list[tuple[bytes, bytes]] = DEFAULTS,
) -> RequestResponseCycle:
    scope: Any = {"type": "http", "method": method, "http_version": "1.1", "path": "/"}
    return kind(
        scope=scope,
        transport=Transport(),  # type: ignore[arg-type]
        flow=Flow(),  # type: ignore[arg-type]
        logger=None,  # type: ignore[arg-type]
        access_logger=None,  # type: ignore[arg-type]
        access_log=False,
        default_headers=defaults,
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )


def forget() -> None:
    """Nothing remembered: the next head is rendered by uvicorn's send."""
    served_cycle._HEADS.clear()
    served_cycle._LAST = served_cycle._Last()


STATE = (
    "response_started",
    "response_complete",
    "chunked_encoding",
    "expected_content_length",
    "keep_alive",
    "waiting_for_100_continue",
)


async def run(c: RequestResponseCycle, messages: list[dict[str, Any]]) -> tuple[Any, ...]:
    """What the cycle wrote, whether it closed, its state after, and what it raised."""
    raised: str | None = None
    try:
        for message in messages:
            await c.send(message)  # type: ignore[arg-type]
    except RuntimeError as exc:
        raised = str(exc)
    transport: Any = c.transport
    state = tuple(getattr(c, name) for name in STATE)
    return transport.out, transport.closed, state, c.message_event.is_set(), raised


def start(headers: Any = RELAY, status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(data: Any = b"data: {}\n\n", more: bool = True) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


STREAM = [start(), body(), body(b""), body(memoryview(b"data: 2\n\n")), body(b"", more=False)]

CASES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "a stream": ({}, STREAM),
    "a stream, keep-alive off": ({"keep_alive": False}, STREAM),
    "a stream of a HEAD": ({"method": "HEAD"}, STREAM),
    "an answer with its length": (
        {},
        [
            start([(b"content-length", b"2"), (b"content-type", b"application/json")]),
            body(b"{}", False),
        ],
    ),
    "a length too short": ({}, [start([(b"content-length", b"3")]), body(b"{}", False)]),
    "a close asked for": ({}, [start([(b"connection", b"Keep-Alive, close")]), *STREAM[1:]]),
    "chunked as asked": ({}, [start([(b"Transfer-Encoding", b"chunked")]), *STREAM[1:]]),
    "a 204": ({}, [start([], status=204), body(b"", False)]),
    "headers as lists": ({}, [start([[b"x-a", b"1"]]), *STREAM[1:]]),
    "a bad header value": ({}, [start([(b"x-a", b"1\r\nx-b: 2")])]),
    "a body first": ({}, [body()]),
    "a start twice": ({}, [start(), start()]),
    "a piece after the end": ({}, [*STREAM, body(b"late")]),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_cycle_writes_what_uvicorn_s_writes_rendered_anew_and_from_memory(
    case: str,
) -> None:
    options, messages = CASES[case]
    forget()
    theirs = await run(cycle(RequestResponseCycle, **options), messages)
    for _ in range(2):  # the head rendered by uvicorn's send, then written from memory
        assert await run(cycle(Cycle, **options), messages) == theirs


async def test_a_head_is_rendered_anew_for_new_default_headers_or_another_status() -> None:
    forget()
    later = [(b"date", b"Mon, 07 Dec 2026 01:00:01 GMT"), (b"server", b"uvicorn")]
    for options, status in [({}, 200), ({"defaults": later}, 200), ({}, 201)]:
        ours = await run(cycle(Cycle, **options), [start(status=status), *STREAM[1:]])
        theirs = await run(
            cycle(RequestResponseCycle, **options), [start(status=status), *STREAM[1:]]
        )
        assert ours == theirs
    assert len(served_cycle._HEADS) == 3


async def test_a_paused_or_gone_client_is_uvicorn_s_to_serve() -> None:
    for kind in (RequestResponseCycle, Cycle):
        paused = cycle(kind)
        paused.flow.write_paused = True  # type: ignore[misc]
        await paused.send(start())  # type: ignore[arg-type]
        assert not paused.flow.write_paused and paused.response_started  # drained first
        gone = cycle(kind)
        gone.disconnected = True
        await gone.send(start())  # type: ignore[arg-type]
        assert gone.transport.out == [] and not gone.response_started  # type: ignore[attr-defined]


async def test_heads_in_turn_and_a_list_changed_in_place_are_each_written_as_uvicorn_writes() -> (
    None
):
    # The last head is found by comparing headers one by one: a list the app changed in place
    # after sending it, another status, keep-alive off or new defaults are each another head.
    forget()
    headers = list(RELAY)
    later = [(b"date", b"Mon, 07 Dec 2026 01:00:02 GMT"), (b"server", b"uvicorn")]
    steps: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({}, start(headers)),
        ({}, start(headers)),
        ({}, start([(b"content-length", b"2")])),
        ({}, start(headers)),
        ({"keep_alive": False}, start(headers)),
        ({"defaults": later}, start(headers)),
        ({}, start(headers, status=404)),
    ]
    for options, message in steps:
        ours = await run(cycle(Cycle, **options), [message])
        theirs = await run(cycle(RequestResponseCycle, **options), [message])
        assert ours == theirs
    for change in ("replace", "append"):
        if change == "replace":
            headers[2] = (b"x-llm-agg-provider", b"other")
        else:
            headers.append((b"x-added", b"in place"))
        ours = await run(cycle(Cycle), [start(headers)])
        assert ours == await run(cycle(RequestResponseCycle), [start(headers)])
        assert headers[-1][1] in ours[0][0] and b"x-llm-agg-provider: other" in ours[0][0]


def test_the_served_protocol_s_cycle_writes_heads_from_memory() -> None:
    # http_limits' own cycle (its message event, receive and init) is a Cycle: what it writes
    # is held to uvicorn's by tests/unit/test_http_cycle.py, through this send.
    from llm_agg_local import http_limits

    assert issubclass(http_limits._Cycle, Cycle)
    assert http_limits._Cycle.send is Cycle.send
