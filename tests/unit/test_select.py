from __future__ import annotations

import pytest

from llm_agg.api.chat import ChatCall, parse_chat
from llm_agg.api.errors import InvalidRequest, NoProviderConfigured, NotFound
from llm_agg.providers.registry import BUILTIN
from llm_agg.routing.catalog import parse_catalog
from llm_agg.routing.select import Choice, plan, split_model

CATALOG = parse_catalog(
    {
        "providers": {
            "groq": {
                "models": [
                    {"id": "fast-small", "quality": 2, "speed": 5, "capabilities": ["tools"]},
                    {"id": "shared", "quality": 3, "speed": 4},
                ]
            },
            "cerebras": {
                "models": [
                    {"id": "big-slow", "quality": 5, "speed": 2, "capabilities": ["tools", "json"]},
                    {"id": "shared", "quality": 4, "speed": 4},
                ]
            },
            "anthropic": {"models": [{"id": "paid-best", "quality": 5, "speed": 5, "free": False}]},
        }
    }
)
ALL = ("groq", "cerebras", "anthropic")


def call(**fields: object) -> ChatCall:
    import orjson

    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **fields}
    return parse_chat(orjson.dumps(body))


def test_provider_prefix_splits_only_for_known_providers() -> None:
    assert split_model("groq/llama-3.3", BUILTIN) == ("groq", "llama-3.3")
    assert split_model("deepseek/deepseek-r1:free", BUILTIN) == (None, "deepseek/deepseek-r1:free")
    assert split_model("openrouter/deepseek/r1:free", BUILTIN) == ("openrouter", "deepseek/r1:free")


@pytest.mark.parametrize(
    ("quality", "first"),
    [
        ("fastest", Choice("groq", "fast-small", 4096)),
        ("best_quality", Choice("cerebras", "big-slow", 4096)),
        ("balanced", Choice("cerebras", "shared", 4096)),
    ],
)
def test_auto_orders_free_models_by_quality_setting(quality: str, first: Choice) -> None:
    choices = plan(call(model_quality=quality), CATALOG, BUILTIN, ALL)
    assert choices[0] == first
    assert choices[-1].provider == "anthropic"  # paid after every free model


def test_auto_keeps_only_models_that_can_take_the_request() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    choices = plan(
        call(tools=tools, response_format={"type": "json_object"}), CATALOG, BUILTIN, ALL
    )
    assert choices == [Choice("cerebras", "big-slow", 4096)]


def test_a_bare_id_is_served_by_every_provider_that_lists_it() -> None:
    choices = plan(call(model="shared"), CATALOG, BUILTIN, ALL)
    assert {c.provider for c in choices} == {"groq", "cerebras"}


def test_a_forced_provider_passes_unknown_models_through() -> None:
    assert plan(call(model="groq/brand-new"), CATALOG, BUILTIN, ALL) == [
        Choice("groq", "brand-new")
    ]
    assert plan(call(model="brand-new", provider="groq"), CATALOG, BUILTIN, ALL) == [
        Choice("groq", "brand-new")
    ]


def test_unknown_model_is_404_and_unknown_provider_400() -> None:
    with pytest.raises(NotFound):
        plan(call(model="no-such-model"), CATALOG, BUILTIN, ALL)
    with pytest.raises(InvalidRequest) as caught:
        plan(call(provider="nobody"), CATALOG, BUILTIN, ALL)
    assert caught.value.param == "provider"


def test_conflicting_provider_and_prefix_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        plan(call(model="groq/shared", provider="cerebras"), CATALOG, BUILTIN, ALL)


def test_nothing_configured_says_which_key_to_set() -> None:
    with pytest.raises(NoProviderConfigured) as caught:
        plan(call(model="fast-small"), CATALOG, BUILTIN, ())
    assert caught.value.status == 503
    assert "GROQ_API_KEY" in caught.value.message
