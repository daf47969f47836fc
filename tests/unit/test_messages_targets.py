"""What each target is sent for a Messages request: Anthropic the client's own body, the
others the chat body fitted to the model the router chose."""

from __future__ import annotations

from typing import Any

import orjson

from llm_agg.bridges.messages_in import chat_call
from llm_agg.bridges.messages_targets import fit
from llm_agg.providers.accounts import Account
from llm_agg.providers.anthropic_passthrough import AnthropicPassThrough, MessagesRelay
from llm_agg.providers.base import Target
from llm_agg.providers.registry import BUILTIN
from llm_agg.providers.sse import SSEParser
from llm_agg.routing.catalog import Catalog, ModelInfo
from tests.support.fixtures import raw, sse_events
from tests.support.messages_stream import read

CATALOG = Catalog(
    models=(
        ModelInfo("groq", "llama", capabilities=frozenset({"tools"})),
        ModelInfo("groq", "gpt-oss", capabilities=frozenset({"reasoning"})),
    )
)


def target(provider: str, model: str, max_output: int | None = None, key: str = "k-1") -> Target:
    return Target(BUILTIN[provider], model, Account(provider, "main", key), max_output)


def call(**fields: Any) -> Any:
    return chat_call({"model": "auto", "messages": [{"role": "user", "content": "hi"}], **fields})


def test_max_tokens_is_held_to_the_models_output_limit() -> None:
    fitted = fit(call(max_tokens=32000), target("groq", "llama", 8192), CATALOG)
    assert fitted.body["max_tokens"] == 8192


def test_reasoning_effort_goes_only_to_models_that_reason() -> None:
    asked = call(reasoning_effort="high")
    assert "reasoning_effort" not in fit(asked, target("groq", "llama"), CATALOG).body
    assert fit(asked, target("groq", "gpt-oss"), CATALOG).body["reasoning_effort"] == "high"
    # A model the catalog does not know: the client asked, so it is sent.
    assert fit(asked, target("groq", "other"), CATALOG).body["reasoning_effort"] == "high"
    # Groq's Qwen3 takes only "none" or "default".
    assert (
        fit(asked, target("groq", "qwen/qwen3-32b"), CATALOG).body["reasoning_effort"] == "default"
    )


def test_top_k_goes_only_where_the_provider_takes_it() -> None:
    asked = call(top_k=40)
    assert "top_k" not in fit(asked, target("groq", "llama"), CATALOG).body
    assert fit(asked, target("together", "x"), CATALOG).body["top_k"] == 40


def test_an_unchanged_call_is_the_same_call() -> None:
    asked = call(max_tokens=100)
    assert fit(asked, target("groq", "llama", 8192), CATALOG) is asked


def test_anthropic_is_sent_the_clients_body_with_its_model_and_headers() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "model_quality": "fastest",
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "from gpt-oss", "signature": ""},
                    {"type": "thinking", "thinking": "from claude", "signature": "c2ln"},
                    {"type": "text", "text": "hello"},
                ],
            },
            {"role": "user", "content": "more"},
        ],
    }
    adapter = AnthropicPassThrough(
        body, {"anthropic-beta": "prompt-caching-2024-07-31", "x-other": "no"}
    )
    sent = adapter.build_request(call(), target("anthropic", "claude-haiku-4-5", key="sk-ant-9"))
    assert sent.url == "https://api.anthropic.com/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-9"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "x-other" not in sent.headers
    out = orjson.loads(sent.content)
    assert out["model"] == "claude-haiku-4-5" and "model_quality" not in out
    assert out["system"] == body["system"] and out["tools"] == body["tools"]
    # Another provider's reasoning has no signature, which Anthropic refuses: it is left out.
    assert [b.get("signature") for b in out["messages"][1]["content"]] == ["c2ln", None]


def test_anthropics_answer_is_relayed_byte_for_byte_with_its_usage_counted() -> None:
    body = raw("anthropic/response_tool_use.json")
    adapter = AnthropicPassThrough({}, {})
    completion = adapter.parse_response(body, call(), target("anthropic", "claude"))
    assert completion.body == body
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def relay(events: list[bytes]) -> tuple[MessagesRelay, list[list[bytes]]]:
    relay, parser = MessagesRelay(), SSEParser()
    return relay, [[f for e in parser.feed(event) for f in relay.feed(e)] for event in events]


def test_a_relayed_stream_is_anthropics_own_and_counts_usage() -> None:
    events = sse_events("anthropic/stream_tool_use.sse")
    relayer, outputs = relay(events)
    assert outputs[0] == []  # message_start is held until the first block
    got = read(b"".join(f for frames in outputs for f in frames) + b"".join(relayer.finish()))
    assert got.error is None and got.message is not None
    assert [b.type for b in got.message.content] == ["text", "tool_use"]
    assert relayer.usage is not None and relayer.usage.prompt_tokens == 377


def test_an_error_before_any_block_leaves_nothing_sent_so_the_dispatcher_fails_over() -> None:
    start = sse_events("anthropic/stream_error_overloaded.sse")[0]
    error = sse_events("anthropic/stream_error_overloaded.sse")[-1]
    assert error.startswith(b"event: error")
    relayer, outputs = relay([start, error])
    assert relayer.error == "Overloaded"
    assert outputs[0] == []


def test_a_relayed_stream_cut_short_ends_with_an_error_event() -> None:
    relayer, outputs = relay(sse_events("anthropic/stream_text.sse")[:4])
    got = read(b"".join(f for frames in outputs for f in frames) + b"".join(relayer.finish()))
    assert got.error is not None and relayer.error is not None
