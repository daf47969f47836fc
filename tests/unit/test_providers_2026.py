"""The free tiers of 2026, one unit each: what each provider's own quirks make of a request,
an answer, an error and a model list (pure functions, fed the fixtures written from docs)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from llm_agg.providers import cloudflare, gemini, github, mistral, ollama
from llm_agg.providers.failures import FailureKind
from llm_agg.providers.fields import OPENAI_FIELDS
from llm_agg.providers.kinds import adapter_for
from llm_agg.providers.model_lists import huggingface_models
from llm_agg.providers.rate_headers import announced
from llm_agg.providers.registry import BUILTIN
from tests.support.fixtures import headers, raw
from tests.support.native import chat, target

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def sent(provider: str, body: dict[str, object]) -> dict[str, object]:
    call = chat({"model": "m", "messages": [{"role": "user", "content": "Hi"}], **body})
    request = adapter_for(BUILTIN[provider]).build_request(call, target(provider, "m"))
    out: dict[str, object] = json.loads(request.content)
    return out


@pytest.mark.parametrize("provider", ["gemini", "mistral", "codestral"])
def test_a_strict_provider_names_the_fate_of_every_openai_field(provider: str) -> None:
    fates = BUILTIN[provider].fates
    assert sorted(OPENAI_FIELDS - set(fates)) == []


def test_gemini_drops_what_it_does_not_know_and_refuses_what_the_client_would_miss() -> None:
    body = sent(
        "gemini",
        {"store": True, "prompt_cache_key": "k", "metadata": {"a": "b"}, "service_tier": "auto"},
    )
    assert not {"store", "prompt_cache_key", "metadata", "service_tier"} & set(body)
    assert BUILTIN["gemini"].refusal_for({"web_search_options": {}})
    assert BUILTIN["gemini"].refusal_for({"logprobs": True})


def test_gemini_tool_schemas_lose_schema_and_id_and_say_const_as_an_enum() -> None:
    parameters = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "urn:x",
        "type": "object",
        "properties": {
            "unit": {"const": "celsius"},
            "const": {"type": "string"},  # a property named like the keyword stays
            "nested": {"type": "array", "items": {"$id": "urn:y", "const": 3}},
        },
    }
    tool = {"type": "function", "function": {"name": "f", "parameters": parameters}}
    schema = {"name": "s", "schema": {"$schema": "x", "properties": {"k": {"const": True}}}}
    body = sent(
        "gemini",
        {"tools": [tool], "response_format": {"type": "json_schema", "json_schema": schema}},
    )
    cleaned = body["tools"][0]["function"]["parameters"]  # type: ignore[index]
    assert cleaned == {
        "type": "object",
        "properties": {
            "unit": {"enum": ["celsius"]},
            "const": {"type": "string"},
            "nested": {"type": "array", "items": {"enum": [3]}},
        },
    }
    assert body["response_format"]["json_schema"]["schema"] == {  # type: ignore[index]
        "properties": {"k": {"enum": [True]}}
    }
    assert "$schema" in parameters  # the client's own request is left as it was


def test_gemini_per_minute_429_parks_that_model_for_its_retry_delay() -> None:
    failure = gemini.errors(429, raw("gemini/error_429_per_minute.json"))
    assert failure.kind is FailureKind.RATE_LIMITED and failure.parking is not None
    assert failure.parking.quota == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    assert not failure.parking.whole_account
    assert failure.parking.until(NOW) == NOW + 38


def test_gemini_per_day_429_in_an_array_parks_until_midnight_pacific() -> None:
    failure = gemini.errors(429, raw("gemini/error_429_per_day.json"))
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.message.startswith("You exceeded your current quota")
    park = failure.parking
    assert park is not None and park.quota.startswith("GenerateRequestsPerDay")
    until = datetime.fromtimestamp(park.until(NOW), ZoneInfo("America/Los_Angeles"))
    assert (until.hour, until.minute, until.second) == (0, 0, 0)
    assert 0 < park.until(NOW) - NOW <= 86400


def test_gemini_400_in_an_array_is_the_clients_fault_with_its_message() -> None:
    failure = gemini.errors(400, raw("gemini/error_400_unknown_field.json"))
    assert failure.kind is FailureKind.CLIENT and "Unknown name" in failure.message


def test_gemini_lists_bare_model_ids() -> None:
    ids = [m.id for m in gemini.parse_models(raw("gemini/models_list.json"))]
    assert ids == ["gemini-2.5-flash", "gemini-2.5-flash-lite", "gemma-3-27b-it"]


def test_mistral_gets_only_fields_of_its_own_api_under_its_names() -> None:
    body = sent(
        "mistral",
        {
            "stream": True,
            "max_completion_tokens": 99,
            "seed": 7,
            "store": True,
            "messages": [
                {"role": "user", "content": "Hi", "name": "ann"},
                {"role": "tool", "content": "18C", "tool_call_id": "c1", "name": "weather"},
            ],
        },
    )
    assert body["max_tokens"] == 99 and body["random_seed"] == 7
    assert not {"stream_options", "max_completion_tokens", "seed", "store"} & set(body)
    assert body["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "tool", "content": "18C", "tool_call_id": "c1", "name": "weather"},
    ]
    assert body["stream"] is True


def test_mistral_validation_errors_are_said_in_words() -> None:
    failure = mistral.errors(422, raw("mistral/error_422_extra_forbidden.json"))
    assert failure.kind is FailureKind.CLIENT
    assert failure.message == "body.stream_options.include_usage: Extra inputs are not permitted"


def test_mistral_headers_name_their_window() -> None:
    found = {
        (a.kind, a.window): a
        for a in announced("openai", headers("mistral/response_headers_ratelimit.txt"), NOW)
    }
    assert found[("r", "m")].limit == 60 and found[("t", "m")].remaining == 499120


def test_mistral_lists_chat_models_with_their_context() -> None:
    models = {m.id: m for m in mistral.parse_models(raw("mistral/models_list.json"))}
    assert models["mistral-small-latest"].context == 131072
    assert models["mistral-small-latest"].capabilities == {"tools", "vision"}
    assert models["mistral-embed"].chat is False


def test_github_token_limit_refusal_moves_on_instead_of_failing_the_request() -> None:
    failure = github.errors(413, raw("github/error_413_tokens_limit_reached.json"))
    assert failure.kind is FailureKind.TOO_LARGE and failure.kind.fails_over
    assert failure.code == "tokens_limit_reached"
    assert github.errors(429, raw("github/error_429_rate_limit.json")).kind is (
        FailureKind.RATE_LIMITED
    )


def test_github_catalog_gives_free_per_request_limits() -> None:
    models = {m.id: m for m in github.parse_models(raw("github/models_list.json"))}
    gpt = models["openai/gpt-4.1"]
    assert (gpt.context, gpt.max_output) == (8000, 4000)
    assert gpt.capabilities == {"tools", "vision"} and gpt.free
    assert models["openai/text-embedding-3-small"].chat is False


def test_cloudflare_errors_come_from_its_envelope() -> None:
    failure = cloudflare.SPEC.errors(400, raw("cloudflare/error_400_envelope.json"))
    assert failure.kind is FailureKind.CLIENT
    assert failure.message.startswith("AiError: Bad input") and failure.code == "5006"
    assert cloudflare.SPEC.errors(429, raw("cloudflare/error_429_neurons.json")).kind is (
        FailureKind.RATE_LIMITED
    )


def test_nvidia_problem_details_give_the_message() -> None:
    failure = BUILTIN["nvidia"].errors(429, raw("nvidia/error_429_rate_limit.json"))
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.message == "Rate limit exceeded, please retry later."


def test_cloudflare_lists_its_text_generation_models() -> None:
    models = {m.id: m for m in cloudflare.parse_models(raw("cloudflare/models_list.json"))}
    llama = models["@cf/meta/llama-3.3-70b-instruct-fp8-fast"]
    assert llama.chat and llama.context == 24000 and llama.capabilities == {"tools"}
    assert models["@cf/baai/bge-m3"].chat is False


def test_huggingface_lists_what_its_providers_serve() -> None:
    models = {m.id: m for m in huggingface_models(raw("huggingface/models_list.json"))}
    llama = models["meta-llama/Llama-3.3-70B-Instruct"]
    assert llama.context == 131072 and llama.capabilities == {"tools", "json"}


def test_ollama_models_are_local_so_free() -> None:
    models = {m.id: m for m in ollama.parse_models(raw("ollama/models_list.json"))}
    assert models["llama3.2:latest"].free and models["llama3.2:latest"].chat
    assert models["nomic-embed-text:latest"].chat is False
