"""Cohere v2 answers and model lists → OpenAI's, from documented and recorded responses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_agg.providers.base import MalformedResponse, Usage
from llm_agg.providers.cohere import FORMAT, parse_models, parse_response
from llm_agg.providers.native_adapter import NativeAdapter
from tests.support.fixtures import load, raw
from tests.support.native import chat, target

CREATED = 1_772_000_000


def answer(name: str) -> tuple[dict[str, Any], Any]:
    completion = parse_response(raw(name), "command-a-03-2025", CREATED)
    return json.loads(completion.body), completion


def test_text_answer_reads_as_an_openai_completion():
    body, completion = answer("cohere/response_text.json")
    text = load("cohere/response_text.json")["message"]["content"][0]["text"]
    assert body == {
        "id": "chatcmpl-c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "object": "chat.completion",
        "created": CREATED,
        "model": "command-a-03-2025",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 71, "completion_tokens": 418, "total_tokens": 489},
    }
    assert completion.usage == Usage(71, 418)


def test_recorded_parallel_tool_calls_with_a_plan():
    body, completion = answer("cohere/recorded_response_tool_call.json")
    message = body["choices"][0]["message"]
    recorded = load("cohere/recorded_response_tool_call.json")["message"]
    assert message["content"] is None
    assert message["tool_calls"] == recorded["tool_calls"]
    assert message["reasoning_content"] == recorded["tool_plan"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 992}
    assert completion.usage == Usage(1549, 103)


def test_documented_tool_call_with_thinking_content():
    body, _ = answer("cohere/response_tool_call.json")
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"].startswith("I will first find the sales summary")
    assert [c["function"]["name"] for c in message["tool_calls"]] == [
        "query_daily_sales_report",
        "query_product_catalog",
    ]


def test_max_tokens_answer_finishes_with_length():
    body, completion = answer("cohere/recorded_response_max_tokens.json")
    assert body["choices"][0]["message"]["content"] == "**The History of"
    assert body["choices"][0]["finish_reason"] == "length"
    assert completion.usage == Usage(506, 5)


def test_thinking_content_becomes_reasoning_content():
    body, _ = answer("cohere/recorded_response_reasoning.json")
    message = body["choices"][0]["message"]
    assert message["content"] == "2 + 2 = 4"
    assert message["reasoning_content"].startswith("Okay, so I need to figure out")


def test_citations_are_left_out():
    body, _ = answer("cohere/response_documents_citations.json")
    message = body["choices"][0]["message"]
    assert message["content"].startswith("Both NSync and Backstreet Boys")
    assert set(message) == {"role", "content", "refusal"}


def with_fields(**fields: Any) -> bytes:
    return json.dumps({**load("cohere/recorded_response_tool_call.json"), **fields}).encode()


def test_a_tool_without_parameters_gets_an_empty_object():
    recorded = load("cohere/recorded_response_tool_call.json")
    message = recorded["message"]
    message["tool_calls"][0]["function"]["arguments"] = "null"
    completion = parse_response(with_fields(message=message), "m", CREATED)
    call = json.loads(completion.body)["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == "{}"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
    ],
)
def test_finish_reasons(reason: str, finish: str):
    assert parse_response(with_fields(finish_reason=reason), "m", CREATED).finish_reason == finish


@pytest.mark.parametrize("reason", ["ERROR", "TIMEOUT"])
def test_a_failed_generation_is_the_providers_error(reason: str):
    with pytest.raises(MalformedResponse, match=reason):
        parse_response(with_fields(finish_reason=reason), "m", CREATED)


def test_billed_units_count_when_tokens_are_missing():
    usage = {"billed_units": {"input_tokens": 119, "output_tokens": 52}}
    assert parse_response(with_fields(usage=usage), "m", CREATED).usage == Usage(119, 52)


@pytest.mark.parametrize("body", [b"<html>", b'"text"', raw("cohere/error_500_internal.json")])
def test_a_2xx_that_is_not_an_answer_is_malformed(body: bytes):
    with pytest.raises(MalformedResponse):
        parse_response(body, "m", CREATED)


def test_the_answer_names_the_model_that_was_asked():
    adapter = NativeAdapter(FORMAT, clock=lambda: 5.0)
    call = chat({"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    completion = adapter.parse_response(
        raw("cohere/response_text.json"), call, target("cohere", "command-r7b-12-2024")
    )
    body = json.loads(completion.body)
    assert body["model"] == "command-r7b-12-2024"
    assert body["created"] == 5


def test_models_list_keeps_chat_models():
    models = parse_models(raw("cohere/models_list.json"))
    assert [(m.id, m.context) for m in models] == [("command-a-03-2025", 256000)]


def test_models_are_asked_of_v1_models_for_chat():
    request = NativeAdapter(FORMAT).models_request(target("cohere", "m").spec, "co-key")
    assert request.url == "https://api.cohere.com/v1/models?endpoint=chat&page_size=1000"
    assert request.headers["authorization"] == "Bearer co-key"
