"""``GET /v1/models``'s entries: OpenAI model objects (``provider/model``) made of the
catalog and of the lists providers gave. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llm_agg.providers.listing import ListedModel
from llm_agg.routing.catalog import ModelInfo


def model_listing(
    catalog_models: Iterable[ModelInfo],
    configured: Iterable[str],
    listed: Mapping[str, list[ListedModel]],
) -> list[dict[str, Any]]:
    """OpenAI model objects (``provider/model``) of every configured provider: its own list
    where it gave one, with what the catalog knows of each model; the catalog's otherwise."""
    known = {(m.provider, m.id): m for m in catalog_models}
    providers = list(dict.fromkeys([*(p for p, _ in known), *sorted(configured)]))
    ready = set(configured)
    data: list[dict[str, Any]] = []
    for provider in providers:
        if provider not in ready:
            continue
        if provider in listed:
            entries = [(model.id, model.created, model.context) for model in listed[provider]]
        else:
            entries = [(i, 0, None) for (p, i) in known if p == provider]
        for model_id, created, context in entries:
            entry: dict[str, Any] = {
                "id": f"{provider}/{model_id}",
                "object": "model",
                "created": created,
                "owned_by": provider,
            }
            info = known.get((provider, model_id))
            if info is not None:
                entry["context_window"] = info.context
                entry["max_output_tokens"] = info.max_output
                entry["capabilities"] = sorted(info.capabilities)
                entry["free"] = info.free
            elif context is not None:
                entry["context_window"] = context
            data.append(entry)
    return data
