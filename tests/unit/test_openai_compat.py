from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from llm_agg.api.chat import parse_chat
from llm_agg.providers.accounts import Account
from llm_agg.providers.base import Target, Usage
from llm_agg.providers.openai_compat import DONE, OpenAICompatAdapter, StreamRelay, build_request
from llm_agg.providers.registry import BUILTIN
from llm_agg.providers.sse import SSEParser

Read = Callable[[str], bytes]


def target(provider: str, key: str | None = "sk-secret") -> Target:
    return Target(BUILTIN[provider], "m-1", Account(provider, "a1", key, {"X-Title": "app"}))


def body_of(upstream: str, **fields: object) -> dict[str, object]:
    raw = {"model": "auto", "messages": [{"role": "user", "content": "hi", "name": "ann"}]}
    call = parse_chat(orjson.dumps({**raw, **fields}))
    request = build_request(call, target(upstream))
    decoded: dict[str, object] = orjson.loads(request.content)
    return decoded


def test_request_is_forwarded_with_gateway_fields_removed_and_model_replaced() -> None:
    body = body_of("openrouter", provider="openrouter", model_quality="fastest", top_k=3)
    assert body == {
        "model": "m-1",
        "messages": [{"role": "user", "content": "hi", "name": "ann"}],
        "top_k": 3,
    }


def test_groq_loses_the_fields_it_rejects() -> None:
    body = body_of("groq", logprobs=True, top_logprobs=2, logit_bias={"1": 1}, seed=7)
    assert body == {"model": "m-1", "messages": [{"role": "user", "content": "hi"}], "seed": 7}


def test_groq_loses_the_name_of_each_message_that_has_one_and_only_that() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi", "name": "ann"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye", "name": "bob"},
    ]
    call = parse_chat(orjson.dumps({"model": "auto", "messages": messages}))
    sent = orjson.loads(build_request(call, target("groq")).content)["messages"]
    assert sent == [{k: v for k, v in m.items() if k != "name"} for m in messages]
    assert call.body["messages"] == messages  # the client's request itself is untouched


def test_a_target_headers_are_its_own_on_every_request() -> None:
    # _where_to remembers a target's URL and headers by its spec and account objects: each
    # request still gets a dict of its own, and another account (or key) its own headers.
    call = parse_chat(b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}')
    chosen = target("openrouter")
    first = build_request(call, chosen)
    first.headers["x-changed"] = "in place"
    again = build_request(call, chosen)
    assert "x-changed" not in again.headers
    assert again.headers == {
        "content-type": "application/json",
        "authorization": "Bearer sk-secret",
        "X-Title": "app",
    }
    other = build_request(call, target("openrouter", key="sk-other"))
    assert other.headers["authorization"] == "Bearer sk-other"
    assert (
        build_request(call, target("groq")).url == "https://api.groq.com/openai/v1/chat/completions"
    )


def test_streams_always_ask_for_usage() -> None:
    body = body_of("together", stream=True)
    assert body["stream_options"] == {"include_usage": True}


def test_cerebras_gets_a_bounded_max_tokens_unless_the_client_chose() -> None:
    assert body_of("cerebras")["max_completion_tokens"] == 4096
    assert "max_completion_tokens" not in body_of("cerebras", max_tokens=10)


def test_auth_and_account_headers_are_sent() -> None:
    call = parse_chat(b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}')
    request = build_request(call, target("openrouter"))
    assert request.headers["authorization"] == "Bearer sk-secret"
    assert request.headers["X-Title"] == "app"
    assert request.url == "https://openrouter.ai/api/v1/chat/completions"
    assert "sk-secret" not in repr(request) and "sk-secret" not in repr(target("groq"))


def test_a_keyless_local_server_gets_no_authorization() -> None:
    call = parse_chat(b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}')
    assert "authorization" not in build_request(call, target("groq", key=None)).headers


def test_together_eos_becomes_stop_in_answers() -> None:
    adapter = OpenAICompatAdapter({"eos": "stop"})
    call = parse_chat(b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}')
    body = orjson.dumps({"choices": [{"index": 0, "finish_reason": "eos"}], "usage": None})
    completion = adapter.parse_response(body, call, target("together"))
    assert orjson.loads(completion.body)["choices"][0]["finish_reason"] == "stop"
    assert completion.finish_reason == "stop"


def relay(
    raw: bytes, include_usage: bool, renames: dict[str, str] | None = None
) -> tuple[list[dict[str, object] | str], StreamRelay]:
    stream = StreamRelay(include_usage, renames)
    parser = SSEParser()
    frames = [f for e in parser.feed(raw) for f in stream.feed(e)] + stream.finish()
    out: list[dict[str, object] | str] = []
    for frame in frames:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
        data = frame[6:-2]
        out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out, stream


def test_openai_stream_with_usage_is_relayed_unchanged(fixture_bytes: Read) -> None:
    raw = fixture_bytes("openai/stream_text_with_usage.sse")
    chunks, stream = relay(raw, include_usage=True)
    frames = b"".join(f for e in SSEParser().feed(raw) for f in StreamRelay(True).feed(e))
    assert frames == raw.replace(b"\r\n", b"\n")
    assert chunks[-1] == "[DONE]"
    assert stream.usage is not None and stream.error is None


def test_usage_chunk_is_withheld_when_the_client_did_not_ask(fixture_bytes: Read) -> None:
    chunks, stream = relay(fixture_bytes("openai/stream_text_with_usage.sse"), include_usage=False)
    assert all(isinstance(c, str) or c.get("choices") for c in chunks)
    assert stream.usage is not None  # still counted by the gateway


def test_groq_usage_on_the_finish_chunk_moves_to_its_own_chunk(fixture_bytes: Read) -> None:
    chunks, stream = relay(fixture_bytes("groq/stream_text.sse"), include_usage=True)
    assert chunks[-1] == "[DONE]"
    usage_chunk = chunks[-2]
    assert isinstance(usage_chunk, dict) and usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 45,
        "completion_tokens": 662,
        "total_tokens": 707,
    }
    finish = chunks[-3]
    assert isinstance(finish, dict) and "usage" not in finish
    assert stream.usage == Usage(45, 662)


def test_together_finish_reason_and_nulls_are_normalised(fixture_bytes: Read) -> None:
    chunks, _ = relay(fixture_bytes("together/stream_text.sse"), True, {"eos": "stop"})
    reasons = [
        choice["finish_reason"]
        for c in chunks
        if isinstance(c, dict)
        for choice in c["choices"]  # type: ignore[attr-defined]
        if choice["finish_reason"]
    ]
    assert reasons == ["stop"]
    assert all("usage" not in c for c in chunks if isinstance(c, dict) and c["choices"])


@pytest.mark.parametrize(
    "fixture",
    [
        "openrouter/stream_midstream_error.sse",
        "groq/stream_midstream_error.sse",
        "openai/stream_midstream_error.sse",
    ],
)
def test_midstream_errors_end_the_stream_with_one_error_event(
    fixture: str, fixture_bytes: Read
) -> None:
    chunks, stream = relay(fixture_bytes(fixture), include_usage=False)
    assert chunks[-1] != "[DONE]"
    last = chunks[-1]
    assert isinstance(last, dict) and set(last) == {"error"}
    assert sum(1 for c in chunks if isinstance(c, dict) and "error" in c) == 1
    assert stream.error


def test_a_stream_cut_before_done_ends_with_an_error_not_a_clean_end(fixture_bytes: Read) -> None:
    raw = fixture_bytes("openai/stream_text_with_usage.sse")
    cut = raw[: raw.index(b"data: [DONE]")]
    chunks, stream = relay(cut[: len(cut) // 2], include_usage=True)
    assert isinstance(chunks[-1], dict) and "error" in chunks[-1]
    assert DONE not in b"".join(orjson.dumps(c) for c in chunks if isinstance(c, dict))
    assert stream.error


def test_the_fields_left_out_leave_the_rest_in_the_clients_order() -> None:
    raw = {
        "temperature": 0.5,
        "provider": "groq",
        "model": "auto",
        "logprobs": True,
        "messages": [{"role": "user", "content": "x"}],
        "model_quality": "best_quality",
        "top_p": 0.9,
    }
    call = parse_chat(orjson.dumps(raw))
    sent = orjson.loads(build_request(call, target("groq")).content)
    assert list(sent) == ["temperature", "model", "messages", "top_p"]
    assert call.body == raw  # the client's request itself is untouched


@pytest.mark.parametrize("value", ["a\r\nb", "caf\u00e9", "ok\n"])
def test_headers_that_cannot_be_sent_are_refused_on_every_request(value: str) -> None:
    # build_request checks an account's headers where it works them out (its requests say
    # so: dispatch does not check them again); a bad set is refused each time, never kept.
    call = parse_chat(b'{"model":"auto","messages":[{"role":"user","content":"hi"}]}')
    good = build_request(call, target("groq"))
    assert good.checked
    bad = Target(BUILTIN["groq"], "m-1", Account("groq", "a2", "sk-secret", {"X-Org": value}))
    for _ in range(2):
        with pytest.raises(ValueError) as refused:
            build_request(call, bad)
        assert value not in str(refused.value)
