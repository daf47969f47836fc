"""Reads a Messages event stream as the anthropic SDK does, strictly, for assertions: every
event validated against the SDK's own types, the message accumulated by its own code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from llm_agg.providers.sse import SSEParser

EVENTS: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)


@dataclass
class Read:
    events: list[dict[str, Any]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    message: Message | None = None
    error: dict[str, Any] | None = None


def read(body: bytes) -> Read:
    parser = SSEParser()
    out = Read()
    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    for sse in [*parser.feed(body), *parser.flush()]:
        assert sse.event is not None, f"an event without a name: {sse.data!r}"
        assert out.error is None, "nothing may follow an error event"
        assert "message_stop" not in out.names, "nothing may follow message_stop"
        data = json.loads(sse.data)
        assert data["type"] == sse.event, "the event name and the data's type differ"
        out.names.append(sse.event)
        out.events.append(data)
        if sse.event == "ping":
            continue
        if sse.event == "error":
            out.error = data["error"]
            continue
        typed = EVENTS.validate_python(data, strict=False)
        snapshot = accumulate_event(event=typed, current_snapshot=snapshot, json_bufs=json_bufs)
    if snapshot is not None:
        out.message = Message.model_validate(snapshot.model_dump())
    return out
