"""The served connection's transport holds an answer's head until its first body bytes, so
both go out in one write; nothing is lost, delayed past the loop's next turn, or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

from llm_agg_local.http_limits import _HeadHeld


class Recording:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.extra = {"peername": ("127.0.0.1", 5)}

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def writelines(self, data: Any) -> None:
        self.writes.extend(bytes(d) for d in data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)


def held() -> tuple[_HeadHeld, Recording, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    real = Recording()
    return _HeadHeld(real, loop), real, loop  # type: ignore[arg-type]


def turn(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


def test_a_head_and_its_body_leave_in_one_write() -> None:
    out, real, loop = held()
    out.hold()
    out.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert real.writes == []
    out.write(b"body")
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    out.write(b"more")  # only the first write after hold() is held
    assert real.writes[-1] == b"more"
    turn(loop)
    assert len(real.writes) == 2
    loop.close()


def test_a_head_alone_leaves_on_the_next_turn() -> None:
    out, real, loop = held()
    out.hold()
    out.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    assert real.writes == []
    turn(loop)
    assert real.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    out.write(b"5\r\nhello\r\n")
    assert real.writes[-1] == b"5\r\nhello\r\n"
    loop.close()


def test_close_and_flush_send_what_is_held_first() -> None:
    out, real, loop = held()
    out.hold()
    out.write(b"head")
    out.flush()
    assert real.writes == [b"head"]
    out.hold()
    out.write(b"refusal")
    out.close()
    assert real.writes == [b"head", b"refusal"] and real.closed
    turn(loop)  # the scheduled flush finds nothing left and the transport closed
    assert real.writes == [b"head", b"refusal"]
    loop.close()


def test_without_hold_every_write_goes_straight_through() -> None:
    out, real, loop = held()
    out.write(b"a")
    out.writelines([b"b", b"c"])
    assert real.writes == [b"a", b"b", b"c"]
    assert out.get_extra_info("peername") == ("127.0.0.1", 5)  # the rest is the transport's
    loop.close()


def test_writelines_after_a_held_head_keeps_the_order() -> None:
    out, real, loop = held()
    out.hold()
    out.write(b"head")
    out.writelines([b"x", b"y"])
    assert real.writes == [b"head", b"x", b"y"]
    loop.close()


class Cycle:
    """What the held head's answer writes through: uvicorn's cycle's ``transport``."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport


def test_once_its_head_has_left_an_answer_writes_to_the_socket_itself() -> None:
    out, real, loop = held()
    cycle = Cycle(out)
    out.hold(cycle)
    cycle.transport.write(b"head")
    assert cycle.transport is out and real.writes == []
    cycle.transport.write(b"first")
    assert cycle.transport is real and real.writes == [b"headfirst"]
    cycle.transport.write(b"second")
    assert real.writes == [b"headfirst", b"second"]
    alone = Cycle(out)  # a head with nothing after it in the same step: on the next turn
    out.hold(alone)
    alone.transport.write(b"head2")
    turn(loop)
    assert alone.transport is real and real.writes[-1] == b"head2"
    loop.close()


def test_a_pipelined_answers_head_is_held_for_its_own_cycle() -> None:
    out, real, loop = held()
    first, second = Cycle(out), Cycle(out)
    out.hold(first)
    first.transport.write(b"H1")
    out.hold(second)  # the next request's head arrived while the first answer's is held
    first.transport.write(b"B1")
    assert (first.transport, second.transport) == (real, out)
    first.transport.write(b"B1 more")
    second.transport.write(b"H2")
    second.transport.write(b"B2")
    assert real.writes == [b"H1B1", b"B1 more", b"H2B2"]
    assert second.transport is real
    loop.close()
