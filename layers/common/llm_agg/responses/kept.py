"""Responses kept for ``previous_response_id`` and ``GET``/``DELETE /v1/responses/{id}``.

A kept response holds everything its continuation needs — the conversation's input items and
the response with its output — so continuing is one read, on any worker or Lambda. It belongs
to the gateway key that made it: to any other caller it does not exist (404). It is refused
whole (413) when too large for one store item; the client can then send the whole input
itself with ``store: false``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from llm_agg.api.errors import GatewayError, InvalidRequest, NotFound
from llm_agg.responses.listing import with_ids
from llm_agg.store.base import (
    MAX_RESPONSE_BYTES,
    ItemTooLarge,
    KeptResponse,
    ResponseStore,
    StoreError,
)

log = logging.getLogger("llm_agg.responses")

DAY = 86400.0
DEFAULT_TTL = 30 * DAY  # as long as OpenAI keeps a stored response


class ConversationTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "conversation_too_large"


@dataclass(frozen=True, slots=True)
class Record:
    """One kept response: the items that led to it and the Response object itself."""

    items: list[dict[str, Any]]
    response: dict[str, Any]

    @property
    def history(self) -> list[dict[str, Any]]:
        """What a continuation starts from: the input, then what the model answered."""
        return [*self.items, *self.response.get("output", [])]


def encode(record: Record) -> bytes:
    return zlib.compress(orjson.dumps({"items": record.items, "response": record.response}), 6)


def decode(data: bytes) -> Record:
    value = orjson.loads(zlib.decompress(data))
    return Record(value["items"], value["response"])


def unavailable() -> GatewayError:
    return GatewayError(
        "The gateway's store is unavailable; try again shortly.",
        status=503,
        code="store_unavailable",
    )


def not_found(response_id: str) -> NotFound:
    return NotFound(f"No response with id '{response_id}' found.", param="response_id")


def too_large(size: int) -> ConversationTooLarge:
    return ConversationTooLarge(
        f"This conversation is too large to keep ({size // 1024} KB compressed, limit "
        f"{MAX_RESPONSE_BYTES // 1024} KB). Send the whole conversation as 'input' with "
        "'store': false instead of 'previous_response_id'.",
        param="store",
    )


class Kept:
    def __init__(
        self, store: ResponseStore, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock

    async def get(self, response_id: str, owner: str) -> Record:
        try:
            kept = await asyncio.to_thread(self.store.get, response_id)
        except StoreError:
            raise unavailable() from None
        # Expiry is checked here too: a backend may hand back an item its TTL has not reaped.
        if kept is None or kept.owner != owner or kept.expires_at <= self.clock():
            raise not_found(response_id)
        return decode(kept.data)

    async def previous(self, response_id: str, owner: str) -> Record:
        """The response a request continues; a 400 naming ``previous_response_id`` if none."""
        try:
            return await self.get(response_id, owner)
        except NotFound:
            raise InvalidRequest(
                f"Previous response with id '{response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            ) from None

    def check_size(self, items: list[dict[str, Any]]) -> None:
        """Refuse before calling anyone when the input alone could not be kept."""
        size = len(encode(Record(items, {})))
        if size > MAX_RESPONSE_BYTES:
            raise too_large(size)

    async def keep(self, record: Record, owner: str) -> None:
        # Items get their ids now, so that every read of the listing shows the same ones.
        data = encode(Record(with_ids(record.items), record.response))
        now = self.clock()
        kept = KeptResponse(record.response["id"], owner, data, now, now + self.ttl)
        try:
            await asyncio.to_thread(self.store.put, kept)
        except (ItemTooLarge, StoreError) as exc:
            # The answer is already given; only its continuation is lost. Said in the log,
            # and the next request naming it gets the usual 400.
            log.warning(
                "response %s not kept (%d bytes): %s", record.response["id"], len(data), exc
            )

    async def delete(self, response_id: str, owner: str) -> None:
        try:
            deleted = await asyncio.to_thread(self.store.delete, response_id, owner)
        except StoreError:
            raise unavailable() from None
        if not deleted:
            raise not_found(response_id)
