"""Cohere v2's documented streams → OpenAI chunks, read as the OpenAI SDK reads them."""

from __future__ import annotations

import pytest

from llm_agg.providers.base import Usage
from llm_agg.providers.cohere_stream import CohereStream
from llm_agg.providers.sse import SSEParser
from tests.support.fixtures import raw
from tests.support.fixtures import sse_events as events
from tests.support.native import run_stream

SIZES = [None, 1, 9, 100]


def run(data: bytes, include_usage: bool = True, size: int | None = None):
    translator = CohereStream("command-a-03-2025", 1_772_000_000, include_usage)
    return (translator, *run_stream(translator, data, size))


@pytest.mark.parametrize("size", SIZES)
def test_text_stream(size: int | None):
    translator, frames, out = run(raw("cohere/stream_text.sse"), size=size)
    assert out.role == "assistant"
    assert out.content.startswith("LLMs stand for Large Language Models, which are")
    assert out.content.endswith("generating human language.")
    assert out.finish_reason == "stop"
    assert out.usage == {"prompt_tokens": 71, "completion_tokens": 26, "total_tokens": 97}
    assert out.done and out.error is None
    assert translator.usage == Usage(71, 26)
    assert out.chunks[0]["id"] == "chatcmpl-29f14a5a-11de-4cae-9800-25e4747408ea"
    assert out.chunks[0]["model"] == "command-a-03-2025"
    assert frames[-1] == b"data: [DONE]\n\n"


@pytest.mark.parametrize("size", SIZES)
def test_tool_call_stream_with_plan(size: int | None):
    _, _, out = run(raw("cohere/stream_tool_call.sse"), size=size)
    assert out.reasoning.startswith("I will use the query_daily_sales_report tool")
    assert out.content == ""
    assert out.tool_calls == [
        {
            "id": "query_daily_sales_report_j3f0adww9pmr",
            "type": "function",
            "function": {"name": "query_daily_sales_report", "arguments": '{"day": "2023-09-29"}'},
        },
        {
            "id": "query_product_catalog_c66nf11r6s8g",
            "type": "function",
            "function": {
                "name": "query_product_catalog",
                "arguments": '{"category": "Electronics"}',
            },
        },
    ]
    assert out.finish_reason == "tool_calls"
    assert out.usage == {"prompt_tokens": 1589, "completion_tokens": 135, "total_tokens": 1724}


def test_a_reply_that_starts_with_a_plan_opens_with_null_content():
    _, _, out = run(raw("cohere/stream_tool_call.sse"))
    assert out.chunks[0]["choices"][0]["delta"]["content"] is None


def test_citations_are_ignored_and_float_counts_read():
    translator, _, out = run(raw("cohere/stream_documents_citations.sse"))
    assert out.content == "Both Nsync and Backstreet Boys were"
    assert translator.usage == Usage(1661, 19)


def test_ends_cleanly_without_done():
    without = b"".join(e for e in events("cohere/stream_text.sse") if e != b"data: [DONE]\n\n")
    _, _, out = run(without)
    assert out.done and out.error is None


def test_a_stream_cut_off_before_message_end_ends_with_an_error():
    cut = b"".join(events("cohere/stream_text.sse")[:-2])
    translator, _, out = run(cut)
    assert out.error is not None and not out.done
    assert translator.error is not None


def test_done_before_message_end_is_an_error():
    cut = b"".join([*events("cohere/stream_text.sse")[:-2], b"data: [DONE]\n\n"])
    _, _, out = run(cut)
    assert out.error is not None and not out.done


@pytest.mark.parametrize(
    "end",
    [
        b'{"type":"message-end","delta":{"finish_reason":"ERROR","error":"model overloaded"}}',
        b'{"type":"message-end","delta":{"finish_reason":"TIMEOUT"}}',
    ],
)
def test_a_failed_generation_ends_with_an_error(end: bytes):
    kept = events("cohere/stream_text.sse")[:-2]
    _, _, out = run(b"".join([*kept, b"event: message-end\ndata: " + end + b"\n\n"]))
    assert out.error is not None and not out.done and out.finish_reason is None


def test_tool_call_without_arguments_gets_an_empty_object():
    kept = [
        e
        for e in events("cohere/stream_tool_call.sse")
        if not (b"tool-call-delta" in e and b'"index":1' in e)
    ]
    _, _, out = run(b"".join(kept))
    assert out.tool_calls[1]["function"]["arguments"] == "{}"


def test_nothing_before_the_first_content_so_an_early_error_fails_over():
    start = events("cohere/stream_text.sse")[0]
    translator = CohereStream("m", 0, True)
    assert [f for e in SSEParser().feed(start) for f in translator.feed(e)] == []
