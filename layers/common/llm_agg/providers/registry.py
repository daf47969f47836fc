"""The built-in providers and the custom ones declared in ``config/providers.yaml``.

Each built-in provider is one ``ProviderSpec``, registered by one line of ``BUILTIN``: the
plain OpenAI-compatible ones are written here as data; a provider with quirks that need code
(Anthropic, Cohere, Gemini, GitHub Models, Cloudflare, Ollama) exports its spec from its own
module. A custom provider of ``config/providers.yaml`` gets the same defaults as a built-in one.

Environment: the spec's key variables (``<PROVIDER>_API_KEY`` unless it names others) hold a
key, ``<PROVIDER>_BASE_URL`` replaces the base URL (the part before ``/chat/completions``,
``/v1/messages`` or ``/v2/chat``, as the SDKs take it), and the variables of its URL's
placeholders fill them (``CLOUDFLARE_ACCOUNT_ID``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llm_agg.providers import anthropic, cloudflare, cohere, gemini, github, mistral, ollama
from llm_agg.providers.envelopes import classify_with, problem_json
from llm_agg.providers.failures import moderated
from llm_agg.providers.fields import not_one
from llm_agg.providers.kinds import KINDS
from llm_agg.providers.model_lists import huggingface_models, openrouter_models, together_models
from llm_agg.providers.rate_headers import DIALECTS
from llm_agg.providers.spec import ProviderSpec, Refusal, env_prefix

__all__ = ["BUILTIN", "build_registry", "env_prefix"]


def _named_choice(value: Any) -> bool:
    return isinstance(value, dict)


OPENROUTER = ProviderSpec(
    name="openrouter",
    base_url="https://openrouter.ai/api/v1",
    rate_limit_headers="openrouter",
    limits_per_account=True,
    parse_models=openrouter_models,
    quota_scope="account",  # its free-model quota counts per account, whatever the key
    errors=moderated,  # its 403 refuses the request, not the key
)
GROQ = ProviderSpec(
    name="groq",
    base_url="https://api.groq.com/openai/v1",
    # console.groq.com/docs/openai: these are answered with 400.
    drop=frozenset({"logprobs", "top_logprobs", "logit_bias"}),
    drop_message_fields=frozenset({"name"}),
    refusals=(Refusal("n", not_one, "groq serves only n=1"),),
    rate_limit_headers="groq",
    quota_scope="account",  # limits apply per organization
)
CEREBRAS = ProviderSpec(
    name="cerebras",
    base_url="https://api.cerebras.ai/v1",
    drop=frozenset({"frequency_penalty", "presence_penalty", "logit_bias", "parallel_tool_calls"}),
    refusals=(
        Refusal("tool_choice", _named_choice, "cerebras takes only auto/none/required"),
        Refusal("n", not_one, "cerebras serves only n=1"),
    ),
    # Its limiter reserves max_completion_tokens up front: never leave it unbounded.
    default_max_tokens=4096,
)
TOGETHER = ProviderSpec(
    name="together",
    base_url="https://api.together.xyz/v1",
    # Together's logprobs is an integer, not OpenAI's boolean.
    drop=frozenset({"logprobs", "top_logprobs"}),
    finish_reasons={"eos": "stop"},
    rate_limit_headers="together",
    parse_models=together_models,
)

NVIDIA = ProviderSpec(
    name="nvidia",
    base_url="https://integrate.api.nvidia.com/v1",
    rate_limit_headers="none",  # none documented: 40 requests a minute, learned from its 429s
    errors=classify_with(problem_json),
)
HUGGINGFACE = ProviderSpec(
    name="huggingface",
    base_url="https://router.huggingface.co/v1",
    key_vars=("HF_TOKEN", "HUGGINGFACE_API_KEY"),
    parse_models=huggingface_models,
    quota_scope="account",  # its monthly credit belongs to the account
)

BUILTIN: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        OPENROUTER,
        GROQ,
        CEREBRAS,
        TOGETHER,
        anthropic.SPEC,
        cohere.SPEC,
        gemini.SPEC,
        mistral.MISTRAL,
        mistral.CODESTRAL,
        github.SPEC,
        NVIDIA,
        cloudflare.SPEC,
        HUGGINGFACE,
        ollama.SPEC,
    )
}


def _custom(name: str, entry: Mapping[str, Any]) -> ProviderSpec:
    kind = entry.get("kind", "openai")
    if kind not in KINDS:
        raise ValueError(f"provider {name!r}: unknown kind {kind!r}; one of {sorted(KINDS)}")
    base_url = entry.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"provider {name!r}: base_url must be an http(s) URL")
    dialect = entry.get("rate_limit_headers", "openai")
    if dialect not in DIALECTS:
        raise ValueError(f"provider {name!r}: rate_limit_headers is one of {sorted(DIALECTS)}")
    wire = KINDS[kind]
    return ProviderSpec(
        name=name,
        base_url=base_url,
        kind=kind,
        # As for a built-in provider: a key is needed unless the entry says it is not.
        key_required=bool(entry.get("key_required", True)),
        headers=dict(entry.get("headers") or {}),
        drop=frozenset(entry.get("drop") or ()),
        timeout=float(entry.get("timeout", 60.0)),
        fates=wire.fates,
        refusals=wire.refusals(name),
        auth=wire.auth,
        rate_limit_headers=dialect,
    )


def _with_yaml(spec: ProviderSpec, entry: Mapping[str, Any]) -> ProviderSpec:
    """What the catalog may change of a built-in provider: extra headers and its timeout."""
    if extra := entry.get("headers"):
        spec = replace(spec, headers={**spec.headers, **extra})
    if "timeout" in entry:
        spec = replace(spec, timeout=float(entry["timeout"]))
    return spec


def _groups(name: str, entry: Mapping[str, Any]) -> dict[str, str]:
    groups = entry.get("quota_groups") or {}
    if not isinstance(groups, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and "|" not in v for k, v in groups.items()
    ):
        raise ValueError(f"provider {name!r}: quota_groups maps account ids to a project name")
    return dict(groups)


def build_registry(
    declared: Mapping[str, Mapping[str, Any]], environ: Mapping[str, str]
) -> dict[str, ProviderSpec]:
    """Built-in specs, plus custom providers, with ``headers`` and env overrides applied."""
    specs = dict(BUILTIN)
    for name, entry in declared.items():
        if name in specs:
            specs[name] = _with_yaml(specs[name], entry)
        elif "base_url" in entry:
            specs[name] = _custom(name, entry)
        else:
            continue
        if "quota_groups" in entry:
            specs[name] = replace(specs[name], quota_groups=_groups(name, entry))
    for name, spec in specs.items():
        base_url = environ.get(f"{env_prefix(name)}_BASE_URL", "").rstrip("/") or spec.base_url
        for placeholder, var in spec.url_vars.items():
            if value := environ.get(var, "").strip():
                base_url = base_url.replace("{" + placeholder + "}", value)
        if base_url != spec.base_url:
            specs[name] = replace(spec, base_url=base_url)
    return specs
