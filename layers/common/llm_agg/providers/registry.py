"""The built-in providers and the custom ones declared in ``config/providers.yaml``.

Environment: ``<PROVIDER>_API_KEY`` holds a key, ``<PROVIDER>_BASE_URL`` replaces the base URL
(the part before ``/chat/completions``, ``/v1/messages`` or ``/v2/chat``, as the SDKs take it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llm_agg.providers.fields import NATIVE_FATES, native_refusals, not_one
from llm_agg.providers.spec import Kind, ProviderSpec, RateHeaders, Refusal


def _named_choice(value: Any) -> bool:
    return isinstance(value, dict)


BUILTIN: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec(
            name="openrouter",
            base_url="https://openrouter.ai/api/v1",
            rate_limit_headers="openrouter",
            limits_per_account=True,
        ),
        ProviderSpec(
            name="groq",
            base_url="https://api.groq.com/openai/v1",
            # console.groq.com/docs/openai: these are answered with 400.
            drop=frozenset({"logprobs", "top_logprobs", "logit_bias"}),
            drop_message_fields=frozenset({"name"}),
            refusals=(Refusal("n", not_one, "groq serves only n=1"),),
            rate_limit_headers="groq",
        ),
        ProviderSpec(
            name="cerebras",
            base_url="https://api.cerebras.ai/v1",
            drop=frozenset(
                {"frequency_penalty", "presence_penalty", "logit_bias", "parallel_tool_calls"}
            ),
            refusals=(
                Refusal("tool_choice", _named_choice, "cerebras takes only auto/none/required"),
                Refusal("n", not_one, "cerebras serves only n=1"),
            ),
            # Its limiter reserves max_completion_tokens up front: never leave it unbounded.
            default_max_tokens=4096,
        ),
        ProviderSpec(
            name="together",
            base_url="https://api.together.xyz/v1",
            # Together's logprobs is an integer, not OpenAI's boolean.
            drop=frozenset({"logprobs", "top_logprobs"}),
            finish_reasons={"eos": "stop"},
            rate_limit_headers="together",
        ),
        ProviderSpec(
            name="anthropic",
            base_url="https://api.anthropic.com",
            kind="anthropic",
            fates=NATIVE_FATES["anthropic"],
            refusals=native_refusals("anthropic"),
            rate_limit_headers="anthropic",
        ),
        ProviderSpec(
            name="cohere",
            base_url="https://api.cohere.com",
            kind="cohere",
            fates=NATIVE_FATES["cohere"],
            refusals=native_refusals("cohere"),
            rate_limit_headers="none",
        ),
    )
}

_KINDS: frozenset[str] = frozenset({"openai", "anthropic", "cohere"})
_RATE_HEADERS: frozenset[str] = frozenset(
    {"openai", "groq", "together", "anthropic", "openrouter", "none"}
)


def env_prefix(provider: str) -> str:
    """``my-llama`` → ``MY_LLAMA``: the prefix of its ``_API_KEY`` and ``_BASE_URL`` variables."""
    return re.sub(r"[^A-Za-z0-9]", "_", provider).upper()


def _custom(name: str, entry: Mapping[str, Any]) -> ProviderSpec:
    kind = entry.get("kind", "openai")
    if kind not in _KINDS:
        raise ValueError(f"provider {name!r}: unknown kind {kind!r}")
    base_url = entry.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"provider {name!r}: base_url must be an http(s) URL")
    kind_value: Kind = kind
    dialect = entry.get("rate_limit_headers", "openai")
    if dialect not in _RATE_HEADERS:
        raise ValueError(f"provider {name!r}: rate_limit_headers is one of {sorted(_RATE_HEADERS)}")
    dialect_value: RateHeaders = dialect
    return ProviderSpec(
        name=name,
        base_url=base_url,
        kind=kind_value,
        key_required=bool(entry.get("key_required", False)),
        headers=dict(entry.get("headers") or {}),
        drop=frozenset(entry.get("drop") or ()),
        timeout=float(entry.get("timeout", 60.0)),
        fates=NATIVE_FATES.get(kind_value, {}),
        refusals=native_refusals(name) if kind_value in NATIVE_FATES else (),
        rate_limit_headers=dialect_value,
    )


def build_registry(
    declared: Mapping[str, Mapping[str, Any]], environ: Mapping[str, str]
) -> dict[str, ProviderSpec]:
    """Built-in specs, plus custom providers, with ``headers`` and env overrides applied."""
    specs = dict(BUILTIN)
    for name, entry in declared.items():
        if name in specs:
            extra = entry.get("headers")
            if extra:
                specs[name] = replace(specs[name], headers={**specs[name].headers, **extra})
            if "timeout" in entry:
                specs[name] = replace(specs[name], timeout=float(entry["timeout"]))
        elif "base_url" in entry:
            specs[name] = _custom(name, entry)
    for name, spec in specs.items():
        override = environ.get(f"{env_prefix(name)}_BASE_URL")
        if override:
            specs[name] = replace(spec, base_url=override.rstrip("/"))
    return specs
