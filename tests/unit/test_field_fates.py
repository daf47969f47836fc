"""Every OpenAI request field has a written fate at every provider (STYLE.md point 3)."""

from __future__ import annotations

import asyncio
import json

import pytest

from llm_agg.api.chat import GATEWAY_FIELDS, ChatRequest
from llm_agg.providers.fields import NATIVE_FATES, OPENAI_FIELDS
from llm_agg.providers.registry import BUILTIN, build_registry
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.support.native import chat, target

FIELDS = sorted(OPENAI_FIELDS | set(ChatRequest.model_fields))
PROVIDERS = sorted(BUILTIN)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_field_has_a_fate(provider: str):
    spec = BUILTIN[provider]
    for name in FIELDS:
        fate = spec.fate(name)
        assert fate in ("forward", "drop", "refuse", "map", "gateway"), name
        if spec.kind != "openai":
            # A native format forwards nothing as is: each field is named in its table.
            assert name in spec.fates or name in GATEWAY_FIELDS, f"{provider}: {name}"


def test_gateway_fields_are_never_sent_anywhere():
    for spec in BUILTIN.values():
        assert all(spec.fate(name) == "gateway" for name in GATEWAY_FIELDS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_field_has_a_rule_that_sends_the_request_elsewhere(provider: str):
    spec = BUILTIN[provider]
    ruled = {refusal.field for refusal in spec.refusals}
    refused = {name for name in FIELDS if spec.fate(name) == "refuse"}
    assert refused <= ruled
    assert ruled <= set(FIELDS)


def test_custom_native_providers_get_the_same_fates():
    specs = build_registry(
        {"claude-proxy": {"kind": "anthropic", "base_url": "https://proxy.example"}}, {}
    )
    assert specs["claude-proxy"].fates == NATIVE_FATES["anthropic"]
    assert specs["claude-proxy"].refusal_for({"n": 3}) == "claude-proxy serves only n=1"


REFUSED_VALUES = {
    "n": 2,
    "logprobs": True,
    "top_logprobs": 3,
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "wav"},
    "web_search_options": {},
    "functions": [{"name": "f", "parameters": {}}],
    "function_call": "auto",
}
ACCEPTED_VALUES = {"n": 1, "logprobs": False, "top_logprobs": 0, "modalities": ["text"]}


@pytest.mark.parametrize("provider", ["anthropic", "cohere"])
@pytest.mark.parametrize("name", sorted(REFUSED_VALUES))
def test_native_refusals(provider: str, name: str):
    spec = BUILTIN[provider]
    assert spec.refusal_for({name: REFUSED_VALUES[name]}) is not None
    if name in ACCEPTED_VALUES:
        assert spec.refusal_for({name: ACCEPTED_VALUES[name]}) is None


@pytest.mark.parametrize("provider", ["anthropic", "cohere"])
@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]},
        {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]},
        {"role": "function", "name": "f", "content": "result"},
    ],
)
def test_messages_a_native_format_cannot_carry_are_refused(provider: str, message: dict):
    assert BUILTIN[provider].refusal_for({"messages": [message]}) is not None


@pytest.mark.parametrize("provider", ["anthropic", "cohere"])
def test_dropped_fields_never_reach_the_provider(provider: str):
    spec = BUILTIN[provider]
    dropped = [name for name in FIELDS if spec.fate(name) == "drop"]
    values = {"metadata": {"k": "v"}, "logit_bias": {"1": 1}, "prediction": {"type": "content"}}
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    request |= {name: values.get(name, "x") for name in dropped if name not in request}
    # Values the pydantic model types strictly.
    request |= {
        k: v
        for k, v in {
            "seed": 1,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.1,
            "parallel_tool_calls": False,
            "user": "u",
        }.items()
        if k in dropped
    }
    adapter = Runtime(Settings(environ={})).adapters[provider]
    sent = json.loads(adapter.build_request(chat(request), target(provider, "m")).content)
    assert not set(sent) & set(dropped), provider


def test_refusals_route_to_another_provider(tmp_path):
    config = tmp_path / "providers.yaml"
    config.write_text(
        "providers:\n"
        "  anthropic: {models: [{id: shared, quality: 5, speed: 5}]}\n"
        "  openrouter: {models: [{id: shared, quality: 1, speed: 1}]}\n"
    )
    keys = {"ANTHROPIC_API_KEY": "a", "OPENROUTER_API_KEY": "o"}
    runtime = Runtime(Settings(config_path=config, data_dir=tmp_path, environ=keys))
    ask = {"model": "shared", "messages": [{"role": "user", "content": "hi"}]}

    def routed(body: dict[str, object]) -> list[str]:
        return [t.spec.name for t in asyncio.run(runtime.router.route(chat(body)))]

    assert routed(ask) == ["anthropic", "openrouter"]
    assert routed({**ask, "n": 2}) == ["openrouter"]
    runtime.stored.close()
