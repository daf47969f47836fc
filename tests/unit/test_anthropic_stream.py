"""Anthropic's recorded streams → OpenAI chunks, read as the OpenAI SDK reads them."""

from __future__ import annotations

import json

import pytest

from llm_agg.providers.anthropic_stream import AnthropicStream
from llm_agg.providers.base import Usage
from llm_agg.providers.sse import SSEParser
from tests.support.fixtures import raw
from tests.support.fixtures import sse_events as events
from tests.support.native import run_stream, translate

# Read whole, and in pieces that split events, lines and "\n\n" anywhere.
SIZES = [None, 1, 7, 64]


def run(data: bytes, include_usage: bool = True, size: int | None = None):
    translator = AnthropicStream("claude-asked-for", 1_772_000_000, include_usage)
    return (translator, *run_stream(translator, data, size))


@pytest.mark.parametrize("size", SIZES)
def test_text_stream(size: int | None):
    translator, frames, out = run(raw("anthropic/stream_text.sse"), size=size)
    assert out.role == "assistant"
    assert out.content == "Hello there!"
    assert out.finish_reason == "stop"
    assert out.usage == {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}
    assert out.done and out.error is None
    assert translator.usage == Usage(11, 6) and translator.error is None
    first = json.loads(frames[0][len(b"data: ") :])
    assert first["id"] == "chatcmpl-msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"
    assert first["model"] == "claude-3-opus-latest"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_usage_chunk_only_when_the_client_asked():
    translator, _, out = run(raw("anthropic/stream_text.sse"), include_usage=False)
    assert out.usage is None and out.done
    assert translator.usage == Usage(11, 6)  # still counted by the gateway


@pytest.mark.parametrize("size", SIZES)
def test_tool_use_stream_numbers_tool_calls_from_zero(size: int | None):
    _, _, out = run(raw("anthropic/stream_tool_use.sse"), size=size)
    assert out.content == "I'll check the current weather in Paris for you."
    assert out.tool_calls == [
        {
            "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
        }
    ]
    assert out.finish_reason == "tool_calls"
    assert out.usage == {"prompt_tokens": 377, "completion_tokens": 65, "total_tokens": 442}


def test_max_tokens_inside_a_tool_call_finishes_with_length_and_raw_arguments():
    _, _, out = run(raw("anthropic/stream_max_tokens_in_tool_use.sse"))
    assert out.finish_reason == "length"
    assert out.tool_calls[0]["function"]["name"] == "make_file"
    assert out.tool_calls[0]["function"]["arguments"].startswith('{"filename": "taxes.txt"')
    assert out.tool_calls[0]["function"]["arguments"].endswith('\n"Filing taxes')
    assert out.usage == {"prompt_tokens": 450, "completion_tokens": 124, "total_tokens": 574}
    assert out.done


def test_error_event_mid_stream_ends_with_an_error_and_never_done():
    translator, _, out = run(raw("anthropic/stream_error_overloaded.sse"))
    assert out.content == "Hello"
    assert out.error == {
        "message": "Overloaded",
        "type": "server_error",
        "param": None,
        "code": "overloaded_error",
    }
    assert not out.done and out.finish_reason is None
    assert translator.error == "Overloaded"


def test_error_before_any_content_leaves_no_frame_so_the_request_fails_over():
    # The dispatcher fails over while the translator has produced nothing for the client.
    start, _, ping, *_, error = events("anthropic/stream_error_overloaded.sse")
    translator = AnthropicStream("m", 0, True)
    frames = [f for e in SSEParser().feed(start + ping) for f in translator.feed(e)]
    assert frames == [] and translator.error is None
    frames = [f for e in SSEParser().feed(error) for f in translator.feed(e)]
    assert translator.error == "Overloaded"
    assert len(frames) == 1 and frames[0].startswith(b'data: {"error":')


def test_a_stream_cut_off_before_message_stop_ends_with_an_error():
    cut = b"".join(events("anthropic/stream_text.sse")[:-2])
    translator, _, out = run(cut)
    assert out.content == "Hello there!"
    assert out.error is not None and not out.done
    assert translator.error is not None


def test_a_tool_without_arguments_gets_an_empty_object():
    # stream_tool_use.sse with the tool's JSON fragments removed, all but the empty first one.
    kept = [e for e in events("anthropic/stream_tool_use.sse") if b'"partial_json":"' not in e]
    empty = [e for e in events("anthropic/stream_tool_use.sse") if b'"partial_json":""' in e]
    position = next(i for i, e in enumerate(kept) if b'"index":1,"content_block"' in e)
    kept.insert(position + 1, empty[0])
    _, _, out = run(b"".join(kept))
    assert out.tool_calls[0]["function"]["arguments"] == "{}"
    assert out.finish_reason == "tool_calls"


def test_thinking_deltas_become_reasoning_content():
    # Composed from the documented event shapes (no recorded thinking stream in fixtures/).
    start, *_ = events("anthropic/stream_text.sse")
    thinking = [
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"thinking","thinking":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"thinking_delta","thinking":"Two plus two..."}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    ]
    rest = [e.replace(b'"index":0', b'"index":1') for e in events("anthropic/stream_text.sse")[1:]]
    _, _, out = run(b"".join([start, *thinking, *rest]))
    assert out.reasoning == "Two plus two..."
    assert out.content == "Hello there!"
    assert out.done


def test_input_tokens_repeated_in_message_delta_replace_the_first_count():
    events_ = events("anthropic/stream_text.sse")
    events_[-2] = events_[-2].replace(b'"output_tokens":6', b'"input_tokens":20,"output_tokens":6')
    translator, _, _ = run(b"".join(events_))
    assert translator.usage == Usage(20, 6)


def test_nothing_is_sent_after_the_end():
    translator, frames, _ = run(raw("anthropic/stream_text.sse"))
    assert frames[-1] == b"data: [DONE]\n\n"
    assert translate(translator, events("anthropic/stream_text.sse")[3]) == []
