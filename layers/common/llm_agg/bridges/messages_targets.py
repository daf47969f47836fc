"""The adapters a ``/v1/messages`` request is dispatched with, per provider.

Anthropic (any provider of its kind) gets the client's own Messages body, passed through.
Every other provider gets the OpenAI body fitted to the target the router chose, because a
Claude client asks for what a Claude model takes: ``max_tokens`` of 32k or more (held to the
model's output limit, as the native adapters do), ``thinking`` (sent as ``reasoning_effort``
only to models the catalog says reason: the others answer it with a 400), and ``top_k`` (only
where the provider takes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_agg.api.chat import ChatCall
from llm_agg.providers.anthropic_passthrough import AnthropicPassThrough
from llm_agg.providers.base import Adapter, Completion, StreamTranslator, Target, UpstreamRequest
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog

# OpenAI-compatible providers whose API takes ``top_k`` (the native adapters map it).
TOP_K_PROVIDERS = frozenset({"together", "openrouter"})
# Models whose ``reasoning_effort`` is only "none" or "default" (Groq's Qwen3: any level
# else is refused), so thinking at any level is "default" there.
DEFAULT_EFFORT_ONLY = frozenset({("groq", "qwen/qwen3-32b")})


def takes_top_k(spec: ProviderSpec) -> bool:
    return spec.kind != "openai" or spec.name in TOP_K_PROVIDERS


def fit(call: ChatCall, target: Target, catalog: Catalog) -> ChatCall:
    """``call`` as this target can take it (the same call when nothing changes)."""
    body = call.body
    drop = []
    effort = None
    if "top_k" in body and not takes_top_k(target.spec):
        drop.append("top_k")
    if "reasoning_effort" in body:
        known = catalog.model(target.spec.name, target.model)
        if known is not None and "reasoning" not in known.capabilities:
            drop.append("reasoning_effort")
        elif (target.spec.name, target.model) in DEFAULT_EFFORT_ONLY:
            effort = "default"
    limit = target.max_output
    asked = body.get("max_tokens")
    clamp = bool(limit and isinstance(asked, int) and asked > limit)
    if not drop and not clamp and effort is None:
        return call
    fitted: dict[str, Any] = {k: v for k, v in body.items() if k not in drop}
    if clamp:
        fitted["max_tokens"] = limit
    if effort is not None:
        fitted["reasoning_effort"] = effort
    return ChatCall(body=fitted, request=call.request)


class FittedAdapter:
    """An adapter whose requests are first fitted to their target."""

    def __init__(self, inner: Adapter, catalog: Catalog) -> None:
        self._inner = inner
        self._catalog = catalog

    def build_request(self, call: ChatCall, target: Target) -> UpstreamRequest:
        return self._inner.build_request(fit(call, target, self._catalog), target)

    def parse_response(self, body: bytes, call: ChatCall, target: Target) -> Completion:
        return self._inner.parse_response(body, call, target)

    def stream_translator(self, call: ChatCall, target: Target) -> StreamTranslator:
        return self._inner.stream_translator(call, target)


def messages_adapters(
    adapters: Mapping[str, Adapter],
    specs: Mapping[str, ProviderSpec],
    catalog: Catalog,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Adapter]:
    """By provider name: what serves this Messages request (``body``, sent with ``headers``)."""
    native = AnthropicPassThrough(body, headers)
    return {
        name: native if passes_through(specs[name]) else FittedAdapter(adapter, catalog)
        for name, adapter in adapters.items()
    }


def passes_through(spec: ProviderSpec) -> bool:
    """Whether a target of ``spec`` answers in the Messages format itself."""
    return spec.kind == "anthropic"
