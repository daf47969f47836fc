"""Workers that share one listening socket spread its connections by how many each holds.

Under ``llm-agg serve --workers N`` every worker listens on the socket the supervisor bound.
libuv's own server accepts every queued connection in one go, and the worker the kernel
schedules first takes them all: four connections a client opens together land 4-0 or 3-1,
never 2-2, and one worker serves every stream while the others idle. Taking one connection per
turn of the loop (nginx's ``multi_accept off``) is not enough when the client shares the cores:
the other workers are woken but not scheduled before the first has taken the lot.

So the workers keep a small table in a shared file, each worker's slot saying how many
connections it holds. A worker woken by new connections takes as many as keep it within an
eighth (plus one) of what the least-held live neighbour holds: a few connections opened
together spread evenly, and a burst of hundreds spreads in a few rounds rather than one
connection a turn. With no room, it stops listening for ``DEFER_S`` and then takes one that is
still waiting, so a busy or stuck neighbour delays a new connection by that much at a time.
Only new connections pay for this; requests on a kept connection never touch it.

The loop is uvloop's, chosen through uvicorn's custom loop factory (``loop="module:factory"``);
only ``create_server`` on a socket passed in changes. A server that binds its own address (one
worker) is uvloop's, unchanged.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import mmap
import os
import socket
import struct
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import uvloop

logger = logging.getLogger("uvicorn.error")

# Set by ``llm-agg serve`` for its workers: the path of their table (internal, not a setting).
TABLE_ENV = "LLM_AGG_WORKER_TABLE"
DEFER_S = 0.001
DRAIN = 64  # connections taken at most in one turn of the loop
# Out of descriptors or buffers: the socket stays readable, so retrying at once would spin.
_PAUSING = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PAUSE_S = 1.0  # as asyncio's own servers wait after those errors
_SLOT = struct.Struct("=ii")  # a worker's pid (0: free) and the connections it holds
_HELD, _HELD_AT = struct.Struct("=i"), 4


def _then(
    lost: Callable[[Exception | None], None], publish: Callable[[], object]
) -> Callable[[Exception | None], None]:
    """A protocol's ``connection_lost`` that publishes the worker's count after it."""

    def connection_lost(exc: Exception | None) -> None:
        lost(exc)
        publish()

    return connection_lost


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, though not ours
    return True


class WorkerTable:
    """One slot per worker in a shared file; each worker writes only its own slot."""

    def __init__(self, path: str) -> None:
        with open(path, "r+b") as file:
            self._map = mmap.mmap(file.fileno(), 0)
        self._path = path
        self.slots = len(self._map) // _SLOT.size

    @staticmethod
    def create(path: str, slots: int) -> None:
        """Made by the supervisor before its workers start, every slot free."""
        with open(path, "wb") as file:
            file.write(bytes(_SLOT.size * slots))

    def entries(self) -> Iterator[tuple[int, int, int]]:
        """Each slot, its worker's pid (0: free) and the connections that worker holds."""
        for slot in range(self.slots):
            pid, held = _SLOT.unpack_from(self._map, slot * _SLOT.size)
            yield slot, pid, held

    def claim(self, pid: int) -> int | None:
        """``pid``'s slot, or else a free one (one whose worker has died counts as free), or
        None."""
        with open(self._path, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            owners = {slot: owner for slot, owner, _ in self.entries()}
            slot = next((s for s, owner in owners.items() if owner == pid), None)
            if slot is None:
                slot = next((s for s, o in owners.items() if o == 0 or not _alive(o)), None)
            if slot is not None:
                _SLOT.pack_into(self._map, slot * _SLOT.size, pid, 0)
        return slot

    def publish(self, slot: int, held: int) -> None:
        _HELD.pack_into(self._map, slot * _SLOT.size + _HELD_AT, held)

    def least_elsewhere(self, slot: int) -> int | None:
        """The fewest connections a live worker in another slot holds (None: no other)."""
        others = sorted((held, pid) for other, pid, held in self.entries() if pid and other != slot)
        return next((held for held, pid in others if _alive(pid)), None)

    def release(self, slot: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, 0, 0)


class SharedListener(asyncio.AbstractServer):
    """Takes the connections waiting on ``sock`` that this worker has room for (see the
    module's doc), and hands each to ``factory``'s protocol."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
        table: tuple[WorkerTable, int] | None,
    ) -> None:
        self._loop, self._sock, self._factory, self._table = loop, sock, factory, table
        self._opening: set[asyncio.Task[Any]] = set()
        # This worker's open connections: uvicorn's protocols share one set per worker.
        self._held: Collection[object] = ()
        self._serving = self._closed = False
        sock.setblocking(False)
        sock.listen(backlog)
        self._listen()

    def _listen(self) -> None:
        if not (self._serving or self._closed):
            self._serving = True
            self._loop.add_reader(self._sock.fileno(), self._take)

    def _pause(self, seconds: float, then: Callable[[], None]) -> None:
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._sock.fileno())
        self._loop.call_later(seconds, then)

    def _take(self) -> None:
        room = self._room()
        if room <= 0:
            self._pause(DEFER_S, self._take_next)
            return
        taken = 0
        while taken < room and self._accept():
            taken += 1
        if taken:
            self._publish()

    def _take_next(self) -> None:
        """After a deferral: what is still waiting is this worker's, whoever holds less."""
        if not self._closed:
            self._listen()
            if self._accept():
                self._publish()

    def _publish(self) -> int:
        held = len(self._held) + len(self._opening)
        # Once closed, its slot may be a successor's (a rolling restart): leave it be.
        if self._table and not self._closed:
            self._table[0].publish(self._table[1], held)
        return held

    def _room(self) -> int:
        """How many waiting connections this worker may take now (see the module's doc)."""
        held = self._publish()
        least = self._table[0].least_elsewhere(self._table[1]) if self._table else None
        if least is None:
            return DRAIN
        return min(DRAIN, least + least // 8 + 1 - held)

    def _accept(self) -> bool:
        """Whether a connection was taken."""
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return False  # another worker was first, or the client already left
        except OSError as exc:
            if exc.errno not in _PAUSING:
                raise
            logger.error("cannot accept connections for %g s: %s", PAUSE_S, exc.strerror)
            self._pause(PAUSE_S, self._listen)
            return False
        opening = self._loop.create_task(self._loop.connect_accepted_socket(self._made, conn))
        self._opening.add(opening)
        opening.add_done_callback(self._opened)
        return True

    def _made(self) -> asyncio.BaseProtocol:
        protocol = self._factory()
        self._held = getattr(protocol, "connections", self._held)
        if self._table:
            # A connection's end is published at once: a neighbour weighing a count that has
            # gone stale would take a few connections opened together for itself.
            lost = _then(protocol.connection_lost, self._publish)
            protocol.connection_lost = lost  # type: ignore[method-assign, assignment]
        return protocol

    def _opened(self, task: asyncio.Task[Any]) -> None:
        self._opening.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._loop.call_exception_handler(
                {"message": "could not open an accepted connection", "exception": exc}
            )

    def close(self) -> None:
        """Stops taking connections; the socket itself is its owner's to close."""
        if not self._closed:
            self._closed = True
            if self._serving:
                self._serving = False
                self._loop.remove_reader(self._sock.fileno())
            if self._table:
                self._table[0].release(self._table[1])

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._listen()

    async def serve_forever(self) -> None:
        raise NotImplementedError("uvicorn runs its own main loop")

    async def wait_closed(self) -> None:
        # uvicorn waits for its connections itself before it closes the servers.
        return None


@contextmanager
def shared_table(workers: int) -> Iterator[None]:
    """For the supervisor: a table for ``workers`` workers, named to them in the environment
    (workers are spawned, so the environment is what they inherit), removed at the end."""
    if workers < 2:
        yield
        return
    handle, path = tempfile.mkstemp(prefix="llm-agg-workers-")
    os.close(handle)
    # Twice as many slots: a rolling restart (SIGHUP) starts each new worker before it stops
    # the old one, and the new one needs a slot of its own meanwhile.
    WorkerTable.create(path, 2 * workers)
    os.environ[TABLE_ENV] = path
    try:
        yield
    finally:
        os.environ.pop(TABLE_ENV, None)
        with suppress(FileNotFoundError):
            os.unlink(path)


def _claimed() -> tuple[WorkerTable, int] | None:
    path = os.environ.get(TABLE_ENV)
    if not path:
        return None
    try:
        table = WorkerTable(path)
    except (OSError, ValueError) as exc:
        logger.warning("workers will not balance connections: %s", exc)
        return None
    slot = table.claim(os.getpid())
    return None if slot is None else (table, slot)


class Loop(uvloop.Loop):
    """uvloop's loop, whose servers on a shared socket are ``SharedListener``s."""

    # uvloop's stub overloads create_server on host/port versus sock; this takes both forms.
    async def create_server(  # type: ignore[override]
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], *args: Any, **kwargs: Any
    ) -> asyncio.AbstractServer:
        sock = kwargs.get("sock")
        if sock is None or args or kwargs.get("ssl") is not None:
            server: asyncio.AbstractServer = await super().create_server(
                protocol_factory, *args, **kwargs
            )
            return server
        return SharedListener(self, sock, protocol_factory, kwargs.get("backlog", 100), _claimed())


def new_event_loop() -> Loop:
    """The loop factory ``llm-agg serve`` gives uvicorn."""
    return Loop()
