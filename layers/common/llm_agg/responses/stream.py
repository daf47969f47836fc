"""Chat stream chunks → Responses stream events, numbered by ``sequence_number``.

Items open as their first piece arrives: reasoning (``reasoning_text``), the message (one
``output_text`` part), each tool call. A message is closed when a tool call or more reasoning
follows it; tool calls stay open until the stream ends, since a provider may interleave the
argument pieces of parallel calls. A custom tool's call is a function call upstream whose
arguments are ``{"input": …}`` JSON: its text is known only once they are complete, so it is
sent as one ``custom_tool_call_input.delta`` at the end. An upstream failure ends the stream
with ``response.failed``, never a completion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from llm_agg.responses.output import (
    NewId,
    call_item,
    finished,
    message_item,
    new_id,
    reasoning_item,
    text_part,
)

Event = dict[str, Any]


@dataclass(slots=True)
class _Open:
    """An output item being streamed."""

    index: int
    item: dict[str, Any]
    text: str = ""  # the message's text, the reasoning, or a call's arguments so far


def frame(event: Event) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ResponsesStream:
    def __init__(self, response: dict[str, Any], custom_tools: frozenset[str], ids: NewId = new_id):
        self.response = response
        self.custom_tools = custom_tools
        self.ids = ids
        self.sequence = 0
        self.output: list[dict[str, Any]] = []  # finished items, by output index
        self._text: _Open | None = None
        self._reasoning: _Open | None = None
        self._calls: dict[int, _Open] = {}  # by the chunk's tool call index
        self._call_ids: set[str] = set()
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.ended = False

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _lifecycle(self, kind: str) -> Event:
        snapshot = {**self.response, "output": [i for i in self.output if i is not None]}
        return self._event(kind, response=snapshot)

    def start(self) -> list[Event]:
        return [self._lifecycle("response.created"), self._lifecycle("response.in_progress")]

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """The events one chat chunk makes."""
        if isinstance(chunk.get("model"), str):
            self.response["model"] = chunk["model"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        events: list[Event] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events += self._reason(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                events += self._say(content)
            for fragment in delta.get("tool_calls") or []:
                if isinstance(fragment, dict):
                    events += self._call(fragment)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return events

    # --- opening and growing items -----------------------------------------------------------

    def _add(self, item: dict[str, Any]) -> tuple[_Open, Event]:
        index = len(self.output)
        self.output.append(None)  # type: ignore[arg-type]  # filled when the item is done
        opened = _Open(index, item)
        return opened, self._event("response.output_item.added", output_index=index, item=item)

    def _reason(self, text: str) -> list[Event]:
        events = self._close_text()
        if self._reasoning is None:
            opened, added = self._add(reasoning_item(self.ids("rs"), "", "in_progress"))
            self._reasoning = opened
            part = {"type": "reasoning_text", "text": ""}
            events += [added, self._part("response.content_part.added", opened, part)]
        self._reasoning.text += text
        return [*events, self._delta("response.reasoning_text.delta", self._reasoning, text)]

    def _say(self, text: str) -> list[Event]:
        events = self._close_reasoning()
        if self._text is None:
            opened, added = self._add(message_item(self.ids("msg"), "", "in_progress"))
            self._text = opened
            events += [added, self._part("response.content_part.added", opened, text_part(""))]
        self._text.text += text
        delta = self._delta("response.output_text.delta", self._text, text)
        return [*events, {**delta, "logprobs": []}]

    def _call(self, fragment: dict[str, Any]) -> list[Event]:
        index = fragment.get("index", 0)
        function = fragment.get("function") or {}
        pieces = function.get("arguments")
        events: list[Event] = []
        opened = self._calls.get(index)
        if opened is None:
            events += self._close_reasoning() + self._close_text()
            name = str(function.get("name") or "")
            call_id = str(fragment.get("id") or "") or self.ids("call")
            if call_id in self._call_ids:  # a provider that reuses ids: keep them distinct
                call_id = f"{call_id}_{index}"
            self._call_ids.add(call_id)
            custom = name in self.custom_tools
            item = call_item(
                self.ids("ctc" if custom else "fc"), call_id, name, "", custom, "in_progress"
            )
            opened, added = self._add(item)
            self._calls[index] = opened
            events.append(added)
        if isinstance(pieces, str) and pieces:
            opened.text += pieces
            if opened.item["type"] == "function_call":
                events.append(self._delta("response.function_call_arguments.delta", opened, pieces))
        return events

    def _part(self, kind: str, opened: _Open, part: dict[str, Any]) -> Event:
        return self._event(
            kind, item_id=opened.item["id"], output_index=opened.index, content_index=0, part=part
        )

    def _delta(self, kind: str, opened: _Open, delta: str) -> Event:
        fields: dict[str, Any] = {"item_id": opened.item["id"], "output_index": opened.index}
        if opened.item["type"] in ("message", "reasoning"):
            fields["content_index"] = 0
        return self._event(kind, delta=delta, **fields)

    # --- closing -----------------------------------------------------------------------------

    def _done(self, opened: _Open, item: dict[str, Any]) -> Event:
        self.output[opened.index] = item
        return self._event("response.output_item.done", output_index=opened.index, item=item)

    def _close_text(self) -> list[Event]:
        opened, self._text = self._text, None
        if opened is None:
            return []
        item = message_item(opened.item["id"], opened.text)
        return self._close_content(opened, item, "response.output_text.done", logprobs=[])

    def _close_reasoning(self) -> list[Event]:
        opened, self._reasoning = self._reasoning, None
        if opened is None:
            return []
        item = reasoning_item(opened.item["id"], opened.text)
        return self._close_content(opened, item, "response.reasoning_text.done")

    def _close_content(
        self, opened: _Open, item: dict[str, Any], text_done: str, **extra: Any
    ) -> list[Event]:
        """The done events of an item with one content part (a message, reasoning)."""
        where = {"item_id": opened.item["id"], "output_index": opened.index, "content_index": 0}
        return [
            self._event(text_done, text=opened.text, **extra, **where),
            self._event("response.content_part.done", part=item["content"][0], **where),
            self._done(opened, item),
        ]

    def _close_call(self, opened: _Open) -> list[Event]:
        start = opened.item
        custom = start["type"] == "custom_tool_call"
        item = call_item(start["id"], start["call_id"], start["name"], opened.text, custom)
        where = {"item_id": start["id"], "output_index": opened.index}
        if custom:
            text = item["input"]
            return [
                self._event("response.custom_tool_call_input.delta", delta=text, **where),
                self._event("response.custom_tool_call_input.done", input=text, **where),
                self._done(opened, item),
            ]
        return [
            self._event("response.function_call_arguments.done", arguments=opened.text, **where),
            self._done(opened, item),
        ]

    def close_items(self) -> list[Event]:
        """Every open item finished: owed when the upstream stream ended cleanly."""
        events = self._close_reasoning() + self._close_text()
        for index in sorted(self._calls):
            events += self._close_call(self._calls[index])
        self._calls.clear()
        self.response["output"] = list(self.output)
        finished(self.response, self.finish_reason, self.usage)
        return events

    def complete(self) -> list[Event]:
        """The last event after ``close_items``: completed, or incomplete (output cut short)."""
        self.ended = True
        kind = (
            "response.incomplete"
            if self.response["status"] == "incomplete"
            else "response.completed"
        )
        return [self._event(kind, response=self.response)]

    def fail(self, message: str, code: str = "server_error") -> list[Event]:
        """The stream broke: ``response.failed``, with what was finished so far."""
        self.ended = True
        self.response["status"] = "failed"
        self.response["error"] = {"code": code, "message": message}
        return [self._lifecycle("response.failed")]
