"""The catalog as the providers' own model lists show it. Pure.

A catalog model its provider no longer lists is left out (it vanished); a free chat model a
list shows and the catalog lacks is added with modest tiers (OpenRouter's ``:free`` and
zero-priced models, Together's ``-Free``); nothing changes for a provider whose list is not
known. A list that names none of the catalog's models of its provider is not believed: a
whole free tier retired at once is less likely than a proxy, a stand-in server or a first
page answering in the provider's place, and the models' own 404s would still move traffic on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llm_agg.providers.listing import ListedModel
from llm_agg.routing.catalog import Catalog, ModelInfo

DISCOVERED_QUALITY = 2  # a model nobody has rated: served, but after the catalog's own


def merge(
    catalog: Catalog, listed: Mapping[str, Sequence[ListedModel]]
) -> tuple[Catalog, list[str]]:
    """The catalog the router uses, and the ``provider/model``s that vanished."""
    kept: list[ModelInfo] = []
    vanished: list[str] = []
    ids = {provider: {m.id for m in models} for provider, models in listed.items()}
    ours = {provider: {m.id for m in catalog.for_provider(provider)} for provider in ids}
    listed = {p: models for p, models in listed.items() if not ours[p] or ours[p] & ids[p]}
    ids = {provider: ids[provider] for provider in listed}
    for model in catalog.models:
        served = ids.get(model.provider)
        if served is None or model.id in served:
            kept.append(model)
        else:
            vanished.append(f"{model.provider}/{model.id}")
    known = {(m.provider, m.id) for m in catalog.models}
    for provider, models in listed.items():
        for m in models:
            if m.free and m.chat and (provider, m.id) not in known:
                kept.append(
                    ModelInfo(
                        provider=provider,
                        id=m.id,
                        context=m.context or 8192,
                        max_output=m.max_output or 4096,
                        capabilities=m.capabilities or frozenset(),
                        quality=DISCOVERED_QUALITY,
                        speed=3,
                        free=True,
                    )
                )
    return catalog.with_models(tuple(kept)), vanished
