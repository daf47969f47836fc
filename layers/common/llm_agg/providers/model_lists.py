"""The model lists of OpenAI-compatible providers, read into ``ListedModel``. Pure.

OpenAI's shape ``{"data": [{"id", ...}]}`` (Groq adds ``active``, ``context_window`` and
``max_completion_tokens``; Cerebras and custom servers send only ids), Together's bare array
(``type``, ``context_length``, ``pricing``), OpenRouter's (``context_length``, ``pricing``,
``architecture``, ``supported_parameters``). A field a provider does not send stays None: the
catalog's value is then kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from llm_agg.providers.base import MalformedResponse, UpstreamRequest
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.spec import ProviderSpec


def _load(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse(f"model list is not JSON: {exc}") from None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def load_models(body: bytes, key: str | None, id_key: str = "id") -> list[dict[str, Any]]:
    """The entries (objects with a string ``id_key``) of a model list, under ``key`` or bare."""
    return _entries(_load(body), key, id_key)


def _entries(data: Any, key: str | None, id_key: str = "id") -> list[dict[str, Any]]:
    items = data.get(key) if key is not None and isinstance(data, dict) else data
    if not isinstance(items, list):
        raise MalformedResponse(f"model list: expected a list{f' under {key!r}' if key else ''}")
    return [item for item in items if isinstance(item, dict) and isinstance(item.get(id_key), str)]


def openai_models(body: bytes) -> list[ListedModel]:
    return [
        ListedModel(
            id=item["id"],
            created=_int(item.get("created")) or 0,
            context=_int(item.get("context_window")),
            max_output=_int(item.get("max_completion_tokens")),
        )
        for item in _entries(_load(body), "data")
        if item.get("active", True) is not False
    ]


def _zero(prices: Any) -> bool | None:
    if not isinstance(prices, dict) or not prices:
        return None
    try:
        return all(float(v) == 0 for v in prices.values() if v is not None)
    except (TypeError, ValueError):
        return None


def together_models(body: bytes) -> list[ListedModel]:
    models = []
    for item in _entries(_load(body), None):
        model_id: str = item["id"]
        free = model_id.lower().endswith("-free") or bool(_zero(item.get("pricing")))
        models.append(
            ListedModel(
                id=model_id,
                created=_int(item.get("created")) or 0,
                context=_int(item.get("context_length")),
                free=free,
                chat=item.get("type") in ("chat", "language", "code"),
            )
        )
    return models


_PARAMETER_CAPABILITIES = {
    "tools": "tools",
    "response_format": "json",
    "structured_outputs": "json",
    "reasoning": "reasoning",
    "include_reasoning": "reasoning",
}


def openrouter_models(body: bytes) -> list[ListedModel]:
    models = []
    for item in _entries(_load(body), "data"):
        model_id: str = item["id"]
        architecture = item.get("architecture") or {}
        inputs = architecture.get("input_modalities") or []
        outputs = architecture.get("output_modalities") or ["text"]
        params = item.get("supported_parameters") or []
        caps = {_PARAMETER_CAPABILITIES[p] for p in params if p in _PARAMETER_CAPABILITIES}
        if "image" in inputs:
            caps.add("vision")
        top = item.get("top_provider") or {}
        models.append(
            ListedModel(
                id=model_id,
                created=_int(item.get("created")) or 0,
                context=_int(item.get("context_length")) or _int(top.get("context_length")),
                max_output=_int(top.get("max_completion_tokens")),
                free=model_id.endswith(":free") or bool(_zero(item.get("pricing"))),
                chat="text" in outputs,
                capabilities=frozenset(caps),
            )
        )
    return models


Parser = Callable[[bytes], list[ListedModel]]


class OpenAIModels:
    """The ``ModelLister`` of an OpenAI-compatible provider."""

    def __init__(self, parser: Parser = openai_models) -> None:
        self.parse_models = parser

    def models_request(self, spec: ProviderSpec, api_key: str | None) -> UpstreamRequest:
        return UpstreamRequest(spec.models_url, spec.headers_for(api_key), b"")


def huggingface_models(body: bytes) -> list[ListedModel]:
    """Hugging Face's router: OpenAI's shape, each model with the ``providers`` that serve it
    (``context_length``, ``supports_tools``, ``supports_structured_output``)."""
    models = []
    for item in _entries(_load(body), "data"):
        served = [p for p in item.get("providers") or () if isinstance(p, dict)]
        contexts = [c for p in served if (c := _int(p.get("context_length")))]
        caps = {"tools"} if any(p.get("supports_tools") for p in served) else set()
        if any(p.get("supports_structured_output") for p in served):
            caps.add("json")
        models.append(
            ListedModel(
                id=item["id"],
                created=_int(item.get("created")) or 0,
                context=max(contexts) if contexts else None,
                capabilities=frozenset(caps),
            )
        )
    return models
