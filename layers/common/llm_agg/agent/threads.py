"""Threads kept as checkpoints: read for their owner only, written only over the version read.

A thread is bound to the gateway key that made it; to any other caller it does not exist (404).
A client may name a new thread itself: a name that is free starts a thread, one held by another
key answers the same 404 as a thread that never was.
Every write names the version it replaces, so of two requests racing on one thread the second
gets 409 instead of overwriting the first. A thread too large for one item is refused whole.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from llm_agg.agent.state import CheckpointUnreadable, ThreadState, decode, encode
from llm_agg.api.errors import Conflict, GatewayError, NotFound
from llm_agg.store.base import (
    MAX_CHECKPOINT_BYTES,
    Checkpoint,
    CheckpointStore,
    ItemTooLarge,
    VersionConflict,
)

log = logging.getLogger("llm_agg.agent.threads")


class ThreadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "thread_too_large"


def _not_found(thread_id: str) -> NotFound:
    return NotFound(f"No thread {thread_id!r}.", param="thread_id", code="thread_not_found")


def new_thread_id() -> str:
    return "thread_" + secrets.token_urlsafe(18)


class Threads:
    def __init__(
        self, store: CheckpointStore, ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock

    async def load(self, thread_id: str, owner: str) -> ThreadState:
        state = await self.find(thread_id, owner)
        if state is None:
            raise _not_found(thread_id)
        return state

    async def find(self, thread_id: str, owner: str) -> ThreadState | None:
        """The thread, or None when there is none by that id; 404 when another key holds it."""
        checkpoint = await asyncio.to_thread(self.store.get, thread_id)
        # Expiry is checked here too: a backend may hand back an item its TTL has not yet reaped.
        if checkpoint is None or checkpoint.expires_at <= self.clock():
            return None
        if checkpoint.owner != owner:
            raise _not_found(thread_id)
        try:
            return decode(checkpoint.data, checkpoint.version)
        except CheckpointUnreadable as exc:
            log.error("thread %s unreadable: %s", thread_id, exc)
            raise GatewayError(
                f"The thread {thread_id!r} cannot be read by this release: {exc}.",
                code="thread_unreadable",
            ) from None

    async def save(self, state: ThreadState) -> None:
        """Store ``state`` over the version it was read from, and advance its version."""
        data = encode(state)
        if len(data) > MAX_CHECKPOINT_BYTES:
            raise self._too_large(state, len(data))
        checkpoint = Checkpoint(
            thread_id=state.thread_id,
            owner=state.owner,
            version=state.version + 1,
            data=data,
            expires_at=self.clock() + self.ttl,
        )
        expected = state.version or None
        try:
            await asyncio.to_thread(self.store.put, checkpoint, expected)
        except VersionConflict:
            raise Conflict(
                f"The thread {state.thread_id!r} was changed by another request; "
                "read its state again before resuming.",
                param="thread_id",
                code="thread_conflict",
            ) from None
        except ItemTooLarge:
            raise self._too_large(state, len(data)) from None
        state.version = checkpoint.version

    @staticmethod
    def _too_large(state: ThreadState, size: int) -> ThreadTooLarge:
        return ThreadTooLarge(
            f"The thread {state.thread_id!r} has grown too large to save ({size // 1024} KB "
            f"compressed, limit {MAX_CHECKPOINT_BYTES // 1024} KB); its last saved state is "
            "kept. Start a new thread for further work.",
            param="thread_id",
        )
