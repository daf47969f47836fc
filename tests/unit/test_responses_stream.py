"""Chat stream chunks → Responses events, read back with the openai SDK's own types."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llm_agg.api.responses import parse_responses
from llm_agg.providers.sse import SSEParser
from llm_agg.responses.output import shell
from llm_agg.responses.stream import ResponsesStream, frame
from tests.support.fixtures import FIXTURES
from tests.support.responses_stream import parse_events, types


def _stream(custom: frozenset[str] = frozenset(), **body: Any) -> ResponsesStream:
    request = parse_responses({"model": "auto", "input": "hi", "stream": True, **body})
    return ResponsesStream(shell(request, "resp_test", 1.0, "auto"), custom)


def run(chunks: list[dict[str, Any]], stream: ResponsesStream | None = None) -> bytes:
    """The whole Responses stream for a clean upstream stream of ``chunks``."""
    stream = stream or _stream()
    events = stream.start()
    for chunk in chunks:
        events += stream.feed(chunk)
    events += stream.close_items()
    events += stream.complete()
    return b"".join(frame(e) for e in events)


def fixture_chunks(name: str) -> list[dict[str, Any]]:
    parser = SSEParser()
    raw = (FIXTURES / name).read_bytes()
    return [orjson.loads(e.data) for e in parser.feed(raw) + parser.flush() if e.data != b"[DONE]"]


def delta(**fields: Any) -> dict[str, Any]:
    return {"model": "m-1", "choices": [{"index": 0, "delta": fields, "finish_reason": None}]}


def end(reason: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
    if usage:
        chunk["usage"] = usage
    return chunk


USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_text_streams_as_one_message_with_its_deltas_and_usage() -> None:
    chunks = [delta(role="assistant", content=""), delta(content="Hel"), delta(content="lo")]
    events = parse_events(run([*chunks, end("stop"), {"choices": [], "usage": USAGE}]))
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1].response
    assert final.status == "completed" and final.output_text == "Hello"
    assert final.model == "m-1"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 7)
    assert events[0].response.status == "in_progress" and events[0].response.output == []


@pytest.mark.parametrize(
    ("fixture", "pieces"),
    [
        ("openai/stream_tool_call_with_usage.sse", 14),  # arguments in many pieces
        ("cerebras/stream_tool_call.sse", 1),  # arguments whole in one chunk
    ],
)
def test_tool_call_arguments_stream_as_they_arrive_and_complete_at_the_end(
    fixture: str, pieces: int
) -> None:
    chunks = fixture_chunks(fixture)
    expected = "".join(
        (call.get("function") or {}).get("arguments") or ""
        for chunk in chunks
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or []
    )
    events = parse_events(run(chunks))
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(deltas) == pieces and "".join(deltas) == expected
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == expected
    call = events[-1].response.output[0]
    assert (call.type, call.arguments, call.status) == ("function_call", expected, "completed")
    assert call.call_id and call.name


def test_parallel_calls_with_interleaved_pieces_are_separate_items() -> None:
    def piece(index: int, args: str, **opening: str) -> dict[str, Any]:
        fragment: dict[str, Any] = {"index": index, "function": {"arguments": args}}
        if opening:
            fragment.update(id=opening["id"], type="function")
            fragment["function"]["name"] = opening["name"]
        return delta(tool_calls=[fragment])

    chunks = [
        delta(content="Checking."),
        piece(0, '{"city":', id="call_a", name="get_weather"),
        piece(1, '{"city":', id="call_b", name="get_weather"),
        piece(0, '"Paris"}'),
        piece(1, '"Oslo"}'),
        end("tool_calls", USAGE),
    ]
    final = parse_events(run(chunks))[-1].response
    message, first, second = final.output
    assert message.type == "message" and final.output_text == "Checking."
    assert (first.call_id, first.arguments) == ("call_a", '{"city":"Paris"}')
    assert (second.call_id, second.arguments) == ("call_b", '{"city":"Oslo"}')


def test_a_custom_tool_call_comes_back_as_custom_tool_call_input() -> None:
    chunks = [
        delta(tool_calls=[{"index": 0, "id": "call_p", "type": "function",
                           "function": {"name": "apply_patch", "arguments": '{"input": "*** Be'}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": 'gin Patch\\n"}'}}]),
        end("tool_calls"),
    ]  # fmt: skip
    body = run(chunks, _stream(frozenset({"apply_patch"})))
    events = parse_events(body, tools=[{"type": "custom", "name": "apply_patch"}])
    kinds = types(events)
    assert "response.function_call_arguments.delta" not in kinds
    assert kinds[-4:] == [
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
        "response.completed",
    ]
    item = events[-1].response.output[0]
    assert (item.type, item.name, item.input) == (
        "custom_tool_call",
        "apply_patch",
        "*** Begin Patch\n",
    )
    assert events[-2].item.call_id == "call_p"


def test_reasoning_streams_as_its_own_item_before_the_answer() -> None:
    chunks = [
        delta(reasoning="Think"),
        delta(reasoning="ing."),
        delta(content="Done."),
        end("stop"),
    ]
    events = parse_events(run(chunks))
    final = events[-1].response
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.content[0].text == "Thinking."
    assert message.type == "message" and final.output_text == "Done."
    assert [e.delta for e in events if e.type == "response.reasoning_text.delta"] == [
        "Think",
        "ing.",
    ]


def test_output_cut_at_the_token_limit_ends_incomplete() -> None:
    events = parse_events(run([delta(content="Once upon"), end("length")]))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def test_a_failure_ends_the_stream_failed_never_completed() -> None:
    stream = _stream()
    events = [*stream.start(), *stream.feed(delta(content="Hal")), *stream.fail("upstream broke")]
    parsed = parse_events(b"".join(frame(e) for e in events))
    assert types(parsed)[-1] == "response.failed"
    assert "response.completed" not in types(parsed)
    failed = parsed[-1].response
    assert failed.status == "failed" and failed.error.message == "upstream broke"
    assert failed.error.code == "server_error"
