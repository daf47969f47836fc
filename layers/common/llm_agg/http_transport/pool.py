"""The keep-alive pool: idle connections per (scheme, host, port), bounded as httpx's
``Limits`` say, checked out in O(1).

httpcore walks every pooled connection on every request, asking each socket whether it expired;
here an idle connection the peer closes leaves the pool when it closes (``connection_lost``),
and expiry is read off the oldest end of one origin's queue. The most recently used
connection is handed out first (the least likely to have been closed by its server), so the
rest age out after ``keepalive_expiry`` as they would in httpcore.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import httpx

from llm_agg.http_transport.connection import Connection, Key, expire


class Pool:
    def __init__(self, loop: asyncio.AbstractEventLoop, limits: httpx.Limits) -> None:
        self.loop = loop
        self._max = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._idle: dict[Key, deque[Connection]] = {}
        self._idle_count = 0
        self._open: set[Connection] = set()  # open or opening, checked out or idle
        self._opening = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()

    @property
    def size(self) -> int:
        return len(self._open) + self._opening

    async def checkout(
        self,
        key: Key,
        connect: Callable[[], Awaitable[Connection]],
        seconds: float | None,
        *,
        fresh: bool = False,
    ) -> Connection:
        """An idle connection to ``key`` (unless ``fresh``), else a new one within the bound,
        else the first to free up within ``seconds`` (``PoolTimeout``)."""
        deadline = None if seconds is None else self.loop.time() + seconds
        while True:
            conn = None if fresh else self.take_idle(key)
            if conn is not None:
                return conn
            if self._max is None or self.size < self._max:
                return await self._connect(connect)
            if self._idle_count:
                self._close_oldest_idle()  # another origin's idle connection makes room
                continue
            # Woken for a connection another request took first: wait again, within the time left.
            await self._wait(None if deadline is None else max(0.0, deadline - self.loop.time()))

    def release(self, conn: Connection, reuse: bool) -> None:
        """Back from a request: kept idle when ``reuse`` and there is room, else closed."""
        if conn.state != "busy":
            return
        if (
            reuse
            and not conn.lost
            and (self._max_idle is None or self._idle_count < self._max_idle)
        ):
            conn.begin()
            conn.served += 1
            conn.state = "idle"
            conn.idle_since = self.loop.time()
            self._idle.setdefault(conn.key, deque()).append(conn)
            self._idle_count += 1
        else:
            if conn.complete:
                conn.close()
            else:
                conn.abort()
            self._open.discard(conn)
        self._wake()

    def forget(self, conn: Connection) -> None:
        """An idle connection the peer closed, or that sent bytes nobody asked for."""
        idle = self._idle.get(conn.key)
        if idle is not None and conn in idle:
            idle.remove(conn)
            self._idle_count -= 1
        conn.state = "gone"
        self._open.discard(conn)
        self._wake()

    def close(self) -> None:
        for conn in list(self._open):
            if conn.state == "idle":
                conn.close()
            else:
                conn.abort()
        self._open.clear()
        self._idle.clear()
        self._idle_count = 0

    def take_idle(self, key: Key) -> Connection | None:
        """The most recently idle connection to ``key`` that has not expired, checked out."""
        idle = self._idle.get(key)
        if not idle:
            return None
        if self._expiry is not None:
            expired = self.loop.time() - self._expiry
            while idle and idle[0].idle_since <= expired:
                self._drop_idle(idle.popleft())
            if not idle:
                return None
        conn = idle.pop()
        self._idle_count -= 1
        conn.state = "busy"
        return conn

    def _drop_idle(self, conn: Connection) -> None:
        self._idle_count -= 1
        self._open.discard(conn)
        conn.close()

    def _close_oldest_idle(self) -> None:
        oldest = min(
            (idle for idle in self._idle.values() if idle), key=lambda idle: idle[0].idle_since
        )
        self._drop_idle(oldest.popleft())

    async def _connect(self, connect: Callable[[], Awaitable[Connection]]) -> Connection:
        self._opening += 1
        try:
            conn = await connect()
        except BaseException:
            self._wake()
            raise
        finally:
            self._opening -= 1
        self._open.add(conn)
        return conn

    async def _wait(self, seconds: float | None) -> None:
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self._waiters.append(waiter)  # a waiter that gave up stays queued, done: _wake skips it
        timer = None if seconds is None else self.loop.call_later(seconds, expire, waiter)
        try:
            freed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._wake()  # the slot it was woken for goes to the next in line
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not freed:
            raise httpx.PoolTimeout("no connection free in time")

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
