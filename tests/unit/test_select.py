from __future__ import annotations

import pytest

from llm_agg.api.chat import ChatCall, parse_chat
from llm_agg.api.errors import InvalidRequest, NoProviderConfigured, NotFound
from llm_agg.providers.registry import BUILTIN, build_registry
from llm_agg.routing.catalog import Catalog, parse_catalog
from llm_agg.routing.classify import classify
from llm_agg.routing.select import lone, plan, split_model

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


def choose(c: ChatCall, configured: tuple[str, ...] = ALL) -> list[tuple[str, str, int | None]]:
    result = plan(c, classify(c), CATALOG, BUILTIN, configured)
    return [(choice.provider, choice.model, choice.max_output) for choice in result.choices]


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
        ("fastest", ("groq", "fast-small", 4096)),
        ("best_quality", ("cerebras", "big-slow", 4096)),
        ("balanced", ("cerebras", "shared", 4096)),
    ],
)
def test_auto_orders_free_models_by_quality_setting(
    quality: str, first: tuple[str, str, int]
) -> None:
    choices = choose(call(model_quality=quality))
    assert choices[0] == first
    assert choices[-1][0] == "anthropic"  # paid after every free model


def test_auto_keeps_only_models_that_can_take_the_request() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    choices = choose(call(tools=tools, response_format={"type": "json_object"}))
    assert choices == [("cerebras", "big-slow", 4096)]


def test_a_bare_id_is_served_by_every_provider_that_lists_it() -> None:
    choices = choose(call(model="shared"))
    assert {provider for provider, _, _ in choices} == {"groq", "cerebras"}


def test_a_forced_provider_passes_unknown_models_through() -> None:
    assert choose(call(model="groq/brand-new")) == [("groq", "brand-new", None)]
    assert choose(call(model="brand-new", provider="groq")) == [("groq", "brand-new", None)]


def test_unknown_model_is_404_and_unknown_provider_400() -> None:
    with pytest.raises(NotFound):
        choose(call(model="no-such-model"))
    with pytest.raises(InvalidRequest) as caught:
        choose(call(provider="nobody"))
    assert caught.value.param == "provider"


def test_conflicting_provider_and_prefix_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        choose(call(model="groq/shared", provider="cerebras"))


def test_nothing_configured_says_which_key_to_set() -> None:
    with pytest.raises(NoProviderConfigured) as caught:
        choose(call(model="fast-small"), configured=())
    assert caught.value.status == 503
    assert "GROQ_API_KEY" in caught.value.message


def test_with_nothing_configured_the_keys_to_set_are_the_best_free_ones_first() -> None:
    from pathlib import Path

    from llm_agg.routing.catalog import load_catalog

    shipped = load_catalog(Path(__file__).resolve().parents[2] / "config/providers.yaml")
    specs = build_registry(shipped.providers, {})
    request = call()
    with pytest.raises(NoProviderConfigured) as caught:
        plan(request, classify(request), shipped, specs, ())
    suggested = caught.value.message.split("set ", 1)[1]
    assert "ANTHROPIC_API_KEY" not in suggested  # paid: not what a free-tier user is told first


def _named_requests(catalog: Catalog) -> list[ChatCall]:
    """Every way to name a model of ``catalog``, and ids and providers it does not know."""
    named = [call(model=f"{m.provider}/{m.id}") for m in catalog.models]
    named += [call(model=m.id) for m in catalog.models]
    named += [call(model=m.id, provider=m.provider) for m in catalog.models]
    named += [call(model="groq/brand-new"), call(model="brand-new"), call(model="groq/auto")]
    named += [call(model="auto", provider="groq"), call(model="shared", provider="nobody")]
    return named


def _configured_sets(catalog: Catalog) -> list[tuple[str, ...]]:
    providers = tuple(dict.fromkeys(m.provider for m in catalog.models))
    return [providers, (), providers[:1], providers[1:], providers[::2]]


@pytest.mark.parametrize("shipped", [False, True])
def test_a_named_model_with_one_candidate_is_what_plan_would_choose(shipped: bool) -> None:
    from pathlib import Path

    from llm_agg.routing.catalog import load_catalog

    catalog = (
        load_catalog(Path(__file__).resolve().parents[2] / "config/providers.yaml")
        if shipped
        else CATALOG
    )
    specs = build_registry(catalog.providers, {})
    taken = 0
    for configured in _configured_sets(catalog):
        for request in _named_requests(catalog):
            try:
                one = lone(request, catalog, specs, configured)
            except InvalidRequest as refused:
                with pytest.raises(InvalidRequest) as planned:
                    plan(request, classify(request), catalog, specs, configured, only=configured)
                assert planned.value.message == refused.message
                continue
            if one is None:
                continue
            taken += 1
            chosen = plan(request, classify(request), catalog, specs, configured, only=configured)
            assert [(c.provider, c.model, c.max_output) for c in chosen.choices] == [
                (one.provider, one.model, one.max_output)
            ]
    assert taken > len(catalog.models)  # the shortcut is taken, not only declined
