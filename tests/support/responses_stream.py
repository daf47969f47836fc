"""Reads a Responses stream the way the openai SDK does, strictly, for assertions: every event
validated against the SDK's own types and fed to its stream accumulator, which refuses events
out of order, unknown output indexes and items whose identity changes."""

from __future__ import annotations

from typing import Any

import orjson
from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from llm_agg.providers.sse import SSEParser

EVENTS: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def parse_events(body: bytes, tools: list[dict[str, Any]] | None = None) -> list[Any]:
    """The SDK's event objects of ``body``, checked as the SDK checks them."""
    parser = SSEParser()
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=tools or [], text_format=omit)
    out = []
    for sse in [*parser.feed(body), *parser.flush()]:
        data = orjson.loads(sse.data)
        assert "error" not in data, data  # the SDK would raise on it: never sent on this API
        assert sse.event == data["type"], (sse.event, data["type"])
        event = EVENTS.validate_python(data)
        assert event.sequence_number == len(out), "sequence numbers count up from 0"
        state.handle_event(event)
        out.append(event)
    return out


def types(events: list[Any]) -> list[str]:
    return [event.type for event in events]
