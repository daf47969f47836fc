"""Providers' model lists read into one shape. Pure: bytes in, models out.

OpenAI's shape ``{"data": [{"id", ...}]}`` (Groq adds ``active``, ``context_window`` and
``max_completion_tokens``; Cerebras and custom servers send only ids), Together's bare array
(``type``, ``context_length``, ``pricing``), OpenRouter's (``context_length``, ``pricing``,
``architecture``, ``supported_parameters``). A field a provider does not send stays None: the
catalog's value is then kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class ListedModel:
    id: str
    created: int = 0
    context: int | None = None
    max_output: int | None = None
    free: bool | None = None  # None: the list does not say
    chat: bool | None = None  # None: the list does not say whether it is a chat model
    capabilities: frozenset[str] | None = None


class ModelsListError(ValueError):
    """The body is not the model list it should be."""


def _load(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ModelsListError(f"not JSON: {exc}") from None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _entries(data: Any, key: str | None) -> list[dict[str, Any]]:
    items = data.get(key) if key is not None and isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ModelsListError(f"expected a list{f' under {key!r}' if key else ''}")
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]


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

# By provider name; providers not named here use the OpenAI shape if they speak it. The native
# adapters' lists (Anthropic, Cohere) are read by their own modules and registered here.
PARSERS: dict[str, Parser] = {
    "together": together_models,
    "openrouter": openrouter_models,
}
