"""The selector is pure: catalog, request and measurements in, ordered candidates out."""

from __future__ import annotations

from typing import Any

import pytest

from llm_agg.api.errors import InvalidRequest, NoProviderConfigured, NotFound
from llm_agg.providers.registry import BUILTIN
from llm_agg.routing.classify import classify
from llm_agg.routing.select import Plan, Signals, plan
from tests.support.routing import IMAGE, WEATHER_TOOL, catalog, chat

CATALOG = catalog(
    """
defaults:
  model_quality: balanced
routing_rules:
  - name: code
    conditions: {task: code}
    provider_preferences: [cerebras/coder]
    fallback_chain: [groq/big, openrouter]
  - name: contracts
    conditions: {content_keywords: [contract, invoice]}
    fallback_chain: [cohere]
  - name: pictures
    conditions: {needs: [vision]}
    fallback_chain: ["openrouter/seer:free"]
providers:
  groq:
    models:
      - {id: small, context: 131072, capabilities: [tools, json], quality: 2, speed: 5}
      - {id: big, context: 131072, capabilities: [tools, json, reasoning], tasks: [reasoning],
         quality: 5, speed: 4}
  cerebras:
    models:
      - {id: coder, context: 8192, capabilities: [tools, json], tasks: [code], quality: 4, speed: 5}
  openrouter:
    models:
      - {id: "thinker:free", context: 163840, capabilities: [reasoning], tasks: [reasoning],
         quality: 5, speed: 2}
      - {id: "seer:free", context: 32768, capabilities: [vision, json], quality: 3, speed: 3}
  cohere:
    models:
      - {id: command, context: 256000, capabilities: [tools, json], quality: 4, speed: 3}
  anthropic:
    models:
      - {id: claude, context: 200000, capabilities: [tools, vision, json, reasoning],
         quality: 5, speed: 3, free: false}
"""
)
ALL = ("groq", "cerebras", "openrouter", "cohere", "anthropic")
GENERAL = "Tell me about the history of tea"


def route(
    text: str = GENERAL, configured: tuple[str, ...] = ALL, signals: Any = None, **fields: Any
) -> Plan:
    call = chat(text, **fields)
    return plan(call, classify(call), CATALOG, BUILTIN, configured, signals)


def order(result: Plan) -> list[str]:
    return [f"{c.provider}/{c.model}" for c in result.choices]


@pytest.mark.parametrize(
    ("quality", "expected"),
    [
        # speed weighs most; free before paid always
        (
            "fastest",
            [
                "cerebras/coder",
                "groq/small",
                "groq/big",
                "cohere/command",
                "openrouter/seer:free",
                "openrouter/thinker:free",
                "anthropic/claude",
            ],
        ),
        (
            "balanced",
            [
                "groq/big",
                "cerebras/coder",
                "openrouter/thinker:free",
                "cohere/command",
                "groq/small",
                "openrouter/seer:free",
                "anthropic/claude",
            ],
        ),
        # quality weighs most, and tiers under 4 go after every model that meets it
        (
            "best_quality",
            [
                "groq/big",
                "openrouter/thinker:free",
                "cerebras/coder",
                "cohere/command",
                "openrouter/seer:free",
                "groq/small",
                "anthropic/claude",
            ],
        ),
    ],
)
def test_model_quality_orders_general_requests(quality: str, expected: list[str]) -> None:
    result = route(model_quality=quality)
    assert order(result) == expected
    assert result.rule is None


def test_default_quality_comes_from_the_catalog() -> None:
    assert route().quality == "balanced"
    assert order(route()) == order(route(model_quality="balanced"))


def test_reasoning_prefers_models_good_at_it() -> None:
    result = route("Prove that the square root of 2 is irrational", model_quality="best_quality")
    assert order(result)[:2] == ["groq/big", "openrouter/thinker:free"]
    assert result.profile.task == "reasoning"


def test_code_rule_puts_its_preferences_then_its_chain_first() -> None:
    result = route("Write a python function that parses a CSV file", model_quality="fastest")
    assert result.rule == "code"
    assert order(result) == [
        "cerebras/coder",  # provider_preferences
        "groq/big",  # fallback_chain, by model
        "openrouter/seer:free",  # fallback_chain, by provider: its models by score
        "openrouter/thinker:free",
        "groq/small",  # the rest, as without a rule
        "cohere/command",
        "anthropic/claude",
    ]
    assert result.choices[0].via == "code"
    assert result.choices[2].via == "code (openrouter)"


def test_keyword_rule_matches_words_not_substrings() -> None:
    assert route("Please check this contract for risks").rule == "contracts"
    assert order(route("Please check this contract for risks"))[0] == "cohere/command"
    assert route("The contractor is late").rule is None


def test_rules_are_tried_in_order_and_skipped_with_a_reason() -> None:
    result = route(
        "Look at this invoice",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Look at this invoice"}, IMAGE]}
        ],
    )
    assert result.rule == "contracts"  # the first rule that applies wins
    assert result.skipped_rules == [("code", "task is vision, not code")]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # tools: the models without them are left out
        (
            {"tools": [WEATHER_TOOL]},
            ["groq/big", "cerebras/coder", "cohere/command", "groq/small", "anthropic/claude"],
        ),
        # JSON mode
        (
            {"response_format": {"type": "json_object"}},
            [
                "groq/big",
                "cerebras/coder",
                "cohere/command",
                "groq/small",
                "openrouter/seer:free",
                "anthropic/claude",
            ],
        ),
        # images: the pictures rule applies too
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "what is it?"}, IMAGE]}
                ]
            },
            ["openrouter/seer:free", "anthropic/claude"],
        ),
    ],
)
def test_needs_filter_candidates(fields: dict[str, Any], expected: list[str]) -> None:
    assert order(route(**fields)) == expected


def test_prompt_longer_than_a_context_window_leaves_that_model_out() -> None:
    result = route("word " * 12_000)  # ~15,000 tokens: over cerebras/coder's 8,192
    assert "cerebras/coder" not in order(result)
    assert ("cerebras", "coder") in [(p, m) for p, m, _ in result.excluded]


def test_max_tokens_counts_against_the_context_window() -> None:
    assert "cerebras/coder" not in order(route("Hello", max_tokens=9000))


def test_prompt_too_long_for_every_model_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        route("word " * 300_000)
    assert caught.value.code == "context_length_exceeded"


def test_forced_provider_restricts_the_set() -> None:
    assert order(route(provider="groq")) == ["groq/big", "groq/small"]


def test_provider_prefixed_model_names_one_target() -> None:
    call = chat(GENERAL, model="groq/small")
    assert order(plan(call, classify(call), CATALOG, BUILTIN, ALL)) == ["groq/small"]


def test_unknown_model_of_a_forced_provider_passes_through() -> None:
    call = chat(GENERAL, model="groq/brand-new-model")
    assert order(plan(call, classify(call), CATALOG, BUILTIN, ALL)) == ["groq/brand-new-model"]


def test_unknown_bare_model_is_404() -> None:
    call = chat(GENERAL, model="no-such-model")
    with pytest.raises(NotFound):
        plan(call, classify(call), CATALOG, BUILTIN, ALL)


def test_unconfigured_providers_are_left_out_and_named_when_nothing_is_left() -> None:
    assert order(route(configured=("cohere",))) == ["cohere/command"]
    with pytest.raises(NoProviderConfigured) as caught:
        route(provider="anthropic", configured=("groq",))
    assert "ANTHROPIC_API_KEY" in caught.value.message


def test_measured_failures_latency_and_spent_quota_move_a_model_down() -> None:
    baseline = order(route())
    assert baseline[0] == "groq/big"
    failing = {("groq", "big"): Signals(latency_ms=300, success=0.2, samples=20)}
    assert order(route(signals=lambda p, m: failing.get((p, m), Signals())))[0] != "groq/big"
    slow = {("groq", "big"): Signals(latency_ms=9000, success=1.0, samples=20)}
    assert order(route(signals=lambda p, m: slow.get((p, m), Signals())))[0] == "cerebras/coder"
    spent = {("groq", "big"): Signals(headroom=0.0)}
    assert order(route(signals=lambda p, m: spent.get((p, m), Signals())))[0] == "cerebras/coder"


def _outcome(call: Any, configured: tuple[str, ...], only: bool) -> object:
    """What the router gets: with ``only``, as it asks (the configured providers' models, and
    the whole plan on an error); without, the whole plan."""
    try:
        if only:
            try:
                found = plan(call, classify(call), CATALOG, BUILTIN, configured, only=configured)
            except (InvalidRequest, NotFound, NoProviderConfigured):
                found = plan(call, classify(call), CATALOG, BUILTIN, configured)
        else:
            found = plan(call, classify(call), CATALOG, BUILTIN, configured)
    except (InvalidRequest, NotFound, NoProviderConfigured) as exc:
        return type(exc), str(exc)
    return order(found), found.rule


@pytest.mark.parametrize(
    "configured",
    [ALL, ("groq",), ("cerebras", "cohere"), ("openrouter", "anthropic"), ("mistral",), ()],
)
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"model_quality": "best_quality"},
        {"model_quality": "fastest", "tools": [WEATHER_TOOL]},
        {"model": "groq/small"},
        {"model": "big"},
        {"model": "cerebras/not-listed"},
        {"model": "nobody-has-it"},
        {"provider": "openrouter"},
        {"response_format": {"type": "json_object"}},
    ],
)
@pytest.mark.parametrize(
    "text", [GENERAL, "Refactor this python function", "Prove that sqrt 2 is irrational"]
)
def test_the_routers_plan_has_the_same_choices_without_scoring_unconfigured_providers(
    configured: tuple[str, ...], fields: dict[str, Any], text: str
) -> None:
    call = chat(text, **fields)
    assert _outcome(call, configured, True) == _outcome(call, configured, False)


def test_a_picture_for_an_unconfigured_vision_model_is_refused_the_same_either_way() -> None:
    call = chat([{"type": "text", "text": "What is it?"}, IMAGE])  # type: ignore[arg-type]
    for configured in (("groq",), ("openrouter",), ALL):
        assert _outcome(call, configured, True) == _outcome(call, configured, False)
