"""The wire formats the gateway speaks, by the ``kind`` a provider's spec names: the one table
that turns a spec into the adapter that talks to it and the lister that reads its models.

A new native format is its module (pure transforms, see ``native_adapter.NativeFormat``) and
one line here; a new provider of a known format is one spec in ``registry.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llm_agg.providers import anthropic, cohere
from llm_agg.providers.base import Adapter
from llm_agg.providers.fields import NATIVE_FATES, native_refusals
from llm_agg.providers.model_lists import OpenAIModels, openai_models
from llm_agg.providers.native_adapter import NativeAdapter, NativeFormat
from llm_agg.providers.openai_compat import OpenAICompatAdapter
from llm_agg.providers.spec import Fate, ProviderSpec, Refusal, bearer


@dataclass(frozen=True, slots=True)
class Kind:
    auth: Callable[[str | None], dict[str, str]]
    adapter: Callable[[ProviderSpec], Adapter]
    lister: Callable[[ProviderSpec], OpenAIModels | NativeAdapter]
    fates: Mapping[str, Fate]  # empty: OpenAI's own fields, forwarded
    refusals: Callable[[str], tuple[Refusal, ...]]  # by provider name


def _openai_adapter(spec: ProviderSpec) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(dict(spec.finish_reasons), spec.tool_calls_end_as_stop)


def _openai_lister(spec: ProviderSpec) -> OpenAIModels:
    return OpenAIModels(spec.parse_models or openai_models)


def _native(
    fmt: NativeFormat, name: str, auth: Callable[[str | None], dict[str, str]] = bearer
) -> Kind:
    def adapter(spec: ProviderSpec) -> NativeAdapter:
        return NativeAdapter(fmt)

    return Kind(auth, adapter, adapter, NATIVE_FATES[name], native_refusals)


KINDS: Mapping[str, Kind] = {
    "openai": Kind(bearer, _openai_adapter, _openai_lister, {}, lambda name: ()),
    "anthropic": _native(anthropic.FORMAT, "anthropic", anthropic.auth),
    "cohere": _native(cohere.FORMAT, "cohere"),
}


def adapter_for(spec: ProviderSpec) -> Adapter:
    return KINDS[spec.kind].adapter(spec)


def lister_for(spec: ProviderSpec) -> OpenAIModels | NativeAdapter:
    """What asks ``spec``'s provider for its models and reads the answer (also the key check)."""
    return KINDS[spec.kind].lister(spec)
