"""Workers sharing a listening socket: the table of what each holds, and the listener that takes
a connection only when no live neighbour holds fewer (``llm_agg_local.accept``)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from llm_agg_local import accept
from llm_agg_local.accept import TABLE_ENV, SharedListener, WorkerTable, shared_table


@pytest.fixture
def table_path(tmp_path: Path) -> str:
    path = str(tmp_path / "workers")
    WorkerTable.create(path, 2)
    return path


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_workers_claim_free_slots_and_a_dead_workers_slot(table_path: str) -> None:
    table = WorkerTable(table_path)
    assert table.claim(os.getppid()) == 0
    assert table.claim(dead_pid()) == 1
    # Full but for a dead worker's slot: its successor takes that one.
    assert table.claim(os.getpid()) == 1
    assert table.claim(os.getpid()) == 1  # claiming again finds its own slot
    table.release(0)
    assert table.claim(os.getpid()) == 1  # even with a free slot before it


def test_a_full_table_has_no_slot_for_another_live_worker(table_path: str) -> None:
    table = WorkerTable(table_path)
    assert table.claim(os.getpid()) == 0
    assert table.claim(os.getppid()) == 1
    assert table.claim(1) is None  # pid 1 is alive, and there is no slot left


def test_least_elsewhere_counts_only_live_neighbours(table_path: str) -> None:
    path = table_path.replace("workers", "three")
    WorkerTable.create(path, 3)
    table = WorkerTable(path)
    mine, theirs, gone = table.claim(os.getpid()), table.claim(os.getppid()), table.claim(1)
    assert mine is not None and theirs is not None and gone is not None
    table.publish(mine, 0)
    table.publish(theirs, 2)
    table.publish(gone, 5)
    assert table.least_elsewhere(mine) == 2
    # What one worker writes, another process's view of the file sees.
    WorkerTable(path).publish(theirs, 7)
    assert table.least_elsewhere(mine) == 5
    table.release(theirs)
    table.release(gone)
    assert table.least_elsewhere(mine) is None  # no other worker: nothing to wait for


def test_a_dead_neighbour_holding_nothing_is_not_waited_for(table_path: str) -> None:
    table = WorkerTable(table_path)
    mine = table.claim(os.getpid())
    assert mine is not None and table.claim(dead_pid()) is not None
    assert table.least_elsewhere(mine) is None


def test_the_supervisor_names_a_table_to_its_workers_and_removes_it() -> None:
    with shared_table(1):
        assert TABLE_ENV not in os.environ  # one worker: nothing to share
    with shared_table(3):
        path = os.environ[TABLE_ENV]
        assert WorkerTable(path).slots == 6  # room for a rolling restart's new workers
    assert TABLE_ENV not in os.environ
    assert not os.path.exists(path)


class Echo(asyncio.Protocol):
    """Answers each read with it; like uvicorn's protocols, the worker's open connections are
    one set shared by them all."""

    connections: set[Echo] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.connections.add(self)
        sock = transport.get_extra_info("socket")
        self.nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = accept.new_event_loop()
    Echo.connections = set()
    yield loop
    loop.close()


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


async def ask(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    assert await asyncio.wait_for(reader.readexactly(len(data)), 5) == data
    return reader, writer


def test_a_shared_socket_is_served_one_connection_at_a_time(
    loop: asyncio.AbstractEventLoop,
) -> None:
    sock = listening()

    async def run() -> None:
        server = await loop.create_server(Echo, sock=sock, backlog=16)
        assert isinstance(server, SharedListener) and server.is_serving()
        pairs = await asyncio.gather(*(ask(sock.getsockname()[1], b"hi %d" % i) for i in range(4)))
        assert len(Echo.connections) == 4
        assert all(c.nodelay for c in Echo.connections)  # as uvloop's own servers set it
        for _, writer in pairs:
            writer.close()
        server.close()
        assert not server.is_serving()

    loop.run_until_complete(run())
    sock.close()


def test_a_server_on_its_own_address_is_uvloops(loop: asyncio.AbstractEventLoop) -> None:
    async def run() -> None:
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        assert not isinstance(server, SharedListener)
        server.close()

    loop.run_until_complete(run())


@dataclass
class Balanced:
    """A listener on its own socket, its slot beside a live neighbour's (the parent's) that
    holds nothing, deferring 20 ms."""

    server: SharedListener
    sock: socket.socket
    port: int
    table: WorkerTable
    slot: int


@pytest.fixture
def balanced(
    loop: asyncio.AbstractEventLoop, table_path: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Balanced]:
    monkeypatch.setattr(accept, "DEFER_S", 0.02)
    table = WorkerTable(table_path)
    mine, theirs = table.claim(os.getpid()), table.claim(os.getppid())
    assert mine is not None and theirs is not None
    sock = listening()
    server = SharedListener(loop, sock, Echo, 16, (table, mine))
    yield Balanced(server, sock, sock.getsockname()[1], table, mine)
    server.close()
    sock.close()


async def until(serving: bool, server: SharedListener) -> None:
    while server.is_serving() != serving:
        await asyncio.sleep(0.001)


def test_a_worker_holding_more_leaves_a_connection_then_takes_it_if_no_one_did(
    loop: asyncio.AbstractEventLoop, balanced: Balanced
) -> None:
    async def run() -> None:
        first = await ask(balanced.port, b"one")  # both hold none: taken at once
        # Holding one against the neighbour's none: it waits for the neighbour, who never
        # comes, and then takes the connection itself.
        second = asyncio.ensure_future(ask(balanced.port, b"two"))
        await until(False, balanced.server)
        assert len(Echo.connections) == 1
        await asyncio.wait_for(second, 5)
        assert len(Echo.connections) == 2
        for _, writer in (first, second.result()):
            writer.close()
        balanced.server.close()
        # Its slot is free for a successor once it stops.
        assert balanced.table.claim(1) == balanced.slot

    loop.run_until_complete(run())


def test_closed_during_a_deferral_it_does_not_listen_again(
    loop: asyncio.AbstractEventLoop, balanced: Balanced
) -> None:
    async def run() -> None:
        _, writer = await ask(balanced.port, b"one")
        _, waiting = await asyncio.open_connection("127.0.0.1", balanced.port)
        await until(False, balanced.server)
        balanced.server.close()
        await asyncio.sleep(0.1)  # well past the deferral
        assert not balanced.server.is_serving() and len(Echo.connections) == 1
        writer.close()
        waiting.close()

    loop.run_until_complete(run())


def test_a_connection_the_neighbour_took_leaves_the_next_one_weighed_again(
    loop: asyncio.AbstractEventLoop, balanced: Balanced
) -> None:
    async def run() -> None:
        _, writer = await ask(balanced.port, b"one")
        _, second = await asyncio.open_connection("127.0.0.1", balanced.port)
        await until(False, balanced.server)
        taken, _ = balanced.sock.accept()  # the neighbour takes it meanwhile
        await until(True, balanced.server)
        # Still holding more than the neighbour's published none: the next one waits again.
        third = asyncio.ensure_future(ask(balanced.port, b"three"))
        await until(False, balanced.server)
        assert len(Echo.connections) == 1
        _, third_writer = await asyncio.wait_for(third, 5)
        for w in (writer, second, third_writer):
            w.close()
        taken.close()

    loop.run_until_complete(run())


class Crowded(socket.socket):
    """A listening socket whose first accept finds the process out of descriptors."""

    failed = False

    def accept(self) -> tuple[socket.socket, object]:
        if not self.failed:
            self.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_out_of_descriptors_it_pauses_rather_than_spin_and_then_serves(
    loop: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(accept, "PAUSE_S", 0.05)
    sock = Crowded()
    sock.bind(("127.0.0.1", 0))

    async def run() -> None:
        server = SharedListener(loop, sock, Echo, 16, None)
        reply = asyncio.ensure_future(ask(sock.getsockname()[1], b"later"))
        await until(False, server)
        _, writer = await asyncio.wait_for(reply, 5)
        assert server.is_serving()
        writer.close()
        server.close()

    loop.run_until_complete(run())
    sock.close()
    assert "cannot accept connections for 0.05 s: Too many open files" in caplog.text


def test_a_burst_is_taken_up_to_an_eighth_more_than_the_neighbour_holds(
    loop: asyncio.AbstractEventLoop, table_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accept, "DEFER_S", 60.0)  # no deferral ends within the test
    table = WorkerTable(table_path)
    mine, theirs = table.claim(os.getpid()), table.claim(os.getppid())
    assert mine is not None and theirs is not None
    table.publish(theirs, 8)
    sock = listening()
    sock.listen(16)
    waiting = [socket.create_connection(sock.getsockname()) for _ in range(12)]
    server = SharedListener(loop, sock, Echo, 16, (table, mine))

    async def run() -> None:
        await until(False, server)
        await asyncio.sleep(0.05)  # the taken connections' protocols are made
        # 8 + 8 // 8 + 1: ten taken in one turn of the loop, the other two left to the neighbour
        assert len(Echo.connections) == 10
        server.close()

    loop.run_until_complete(run())
    for client in waiting:
        client.close()
    sock.close()


def test_a_connections_end_is_published_at_once(
    loop: asyncio.AbstractEventLoop, balanced: Balanced
) -> None:
    def held() -> int:
        return next(n for slot, _, n in balanced.table.entries() if slot == balanced.slot)

    async def run() -> None:
        _, writer = await ask(balanced.port, b"one")
        assert held() == 1
        writer.close()
        # No new connection wakes this worker: its slot says so as the connection ends.
        for _ in range(500):
            if held() == 0:
                break
            await asyncio.sleep(0.01)
        assert held() == 0 and not Echo.connections

    loop.run_until_complete(run())


def test_once_closed_it_leaves_its_former_slot_to_a_successor(
    loop: asyncio.AbstractEventLoop, balanced: Balanced
) -> None:
    async def run() -> None:
        _, first = await ask(balanced.port, b"one")
        _, second = await ask(balanced.port, b"two")
        balanced.server.close()
        assert balanced.table.claim(1) == balanced.slot  # a successor's now, holding none
        first.close()
        while len(Echo.connections) > 1:
            await asyncio.sleep(0.01)
        assert [n for s, _, n in balanced.table.entries() if s == balanced.slot] == [0]
        second.close()

    loop.run_until_complete(run())
