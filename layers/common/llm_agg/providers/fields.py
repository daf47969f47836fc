"""The fate of every OpenAI request field at the native providers, as data.

A field is mapped into the provider's format, dropped (logged at debug, by name only), or
refused: a refusal names the values the provider cannot serve faithfully, and the router then
tries another provider instead (``ProviderSpec.refusals``, read by ``Runtime.targets``). The
rule of thumb: drop what only tunes sampling, refuse what the client would see missing from
the answer (n choices, logprobs, audio, web search, legacy ``functions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_agg.providers.spec import Fate, ProviderSpec, Refusal

# Every request field of OpenAI's Chat Completions API (platform.openai.com/docs/api-reference/
# chat/create), deprecated ones included; a test checks each has a fate at every provider.
OPENAI_FIELDS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)


# Fields a strict OpenAI-compatible API (Gemini, Mistral) answers with 400/422 as unknown.
# Bookkeeping and tuning the answer does not show: dropped.
UNSHOWN = ("store", "metadata", "service_tier", "prompt_cache_key", "user", "safety_identifier")
UNSHOWN_TUNING = ("verbosity", "logit_bias")
# What the client would miss from the answer: refused, so another provider serves it.
ANSWER_SHAPING = (
    "logprobs",
    "top_logprobs",
    "web_search_options",
    "functions",
    "function_call",
    "audio",
    "modalities",
)


def not_one(value: Any) -> bool:
    return value is not None and value != 1


def _true(value: Any) -> bool:
    return value is True


def _positive(value: Any) -> bool:
    return isinstance(value, int) and value > 0


def _present(value: Any) -> bool:
    return value is not None and value != []


def _wants_audio(value: Any) -> bool:
    return isinstance(value, list) and "audio" in value


def _unmappable(messages: Any) -> bool:
    """Audio and file parts, and legacy ``function`` results (which name no call), have no
    counterpart in the native formats."""
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        if message.get("role") == "function":
            return True
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") in ("input_audio", "file"):
                return True
    return False


def native_refusals(provider: str) -> tuple[Refusal, ...]:
    return (
        Refusal("n", not_one, f"{provider} serves only n=1"),
        Refusal("logprobs", _true, f"{provider} returns no logprobs in OpenAI's form"),
        Refusal("top_logprobs", _positive, f"{provider} returns no top_logprobs"),
        Refusal("messages", _unmappable, f"{provider} takes no audio, file or function messages"),
        Refusal("modalities", _wants_audio, f"{provider} answers only in text"),
        Refusal("audio", _present, f"{provider} answers only in text"),
        Refusal("web_search_options", _present, f"{provider} has no OpenAI web search"),
        Refusal("functions", _present, f"{provider} takes 'tools', not legacy 'functions'"),
        Refusal("function_call", _present, f"{provider} takes 'tool_choice', not 'function_call'"),
    )


# Fields every native adapter treats alike.
_COMMON: dict[str, Fate] = {
    "model": "map",
    "messages": "map",
    "stream": "map",
    "stream_options": "map",  # usage is always read upstream; the chunk is sent if asked
    "temperature": "map",
    "top_p": "map",
    "max_tokens": "map",
    "max_completion_tokens": "map",
    "stop": "map",
    "tools": "map",
    "tool_choice": "map",
    "response_format": "map",
    "top_k": "map",  # an extension both native formats take
    "n": "refuse",
    "logprobs": "refuse",
    "top_logprobs": "refuse",
    "modalities": "refuse",
    "audio": "refuse",
    "web_search_options": "refuse",
    "functions": "refuse",
    "function_call": "refuse",
    "logit_bias": "drop",
    "metadata": "drop",  # OpenAI's stored-completion tags
    "store": "drop",
    "service_tier": "drop",
    "prediction": "drop",
    "prompt_cache_key": "drop",
    "verbosity": "drop",
}

ANTHROPIC_FATES: Mapping[str, Fate] = {
    **_COMMON,
    "parallel_tool_calls": "map",  # false → tool_choice.disable_parallel_tool_use
    "user": "map",  # → metadata.user_id
    "safety_identifier": "map",  # → metadata.user_id when there is no user
    "reasoning_effort": "map",  # → thinking.budget_tokens
    "seed": "drop",
    "presence_penalty": "drop",
    "frequency_penalty": "drop",
}

COHERE_FATES: Mapping[str, Fate] = {
    **_COMMON,
    "seed": "map",
    "presence_penalty": "map",
    "frequency_penalty": "map",
    "parallel_tool_calls": "drop",  # Cohere decides; there is no switch
    "user": "drop",
    "safety_identifier": "drop",
    "reasoning_effort": "drop",  # only Cohere's reasoning models take `thinking`
}

NATIVE_FATES: Mapping[str, Mapping[str, Fate]] = {
    "anthropic": ANTHROPIC_FATES,
    "cohere": COHERE_FATES,
}


def native_spec(name: str, base_url: str, **quirks: Any) -> ProviderSpec:
    """The spec of a provider of a native format ``name``: its fates and refusals are the
    format's."""
    fates, refusals = NATIVE_FATES[name], native_refusals(name)
    return ProviderSpec(name, base_url, kind=name, fates=fates, refusals=refusals, **quirks)
