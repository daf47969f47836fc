"""The adapter that speaks to each provider, by the kind its spec names."""

from __future__ import annotations

from llm_agg.providers import anthropic, cohere
from llm_agg.providers.base import Adapter
from llm_agg.providers.native_adapter import NativeAdapter
from llm_agg.providers.openai_compat import OpenAICompatAdapter
from llm_agg.providers.spec import ProviderSpec


def adapter_for(spec: ProviderSpec) -> Adapter | None:
    """None for a kind this build cannot speak; such a provider is never routed to."""
    if spec.kind == "openai":
        return OpenAICompatAdapter(dict(spec.finish_reasons))
    if spec.kind == "anthropic":
        return NativeAdapter(anthropic.FORMAT)
    if spec.kind == "cohere":
        return NativeAdapter(cohere.FORMAT)
    return None
