"""What ``GET /admin/routing`` shows: how the router orders candidates for ``auto`` under each
``model_quality``, asked of the router itself (``plan``) so the page shows what it would do."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import get_args

import orjson

from llm_agg.api.chat import ModelQuality, parse_chat
from llm_agg.api.errors import GatewayError
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog
from llm_agg.routing.select import AUTO, plan

QUALITIES: tuple[str, ...] = get_args(ModelQuality)


def _order(
    quality: str, catalog: Catalog, specs: Mapping[str, ProviderSpec], configured: Collection[str]
) -> list[dict[str, object]]:
    body = {"model": AUTO, "model_quality": quality, "messages": [{"role": "user", "content": ""}]}
    try:
        # Planned as if every provider had a key, each candidate marked with whether it has.
        choices = plan(parse_chat(orjson.dumps(body)), catalog, specs, specs.keys())
    except GatewayError:
        return []
    return [
        {"provider": c.provider, "model": c.model, "configured": c.provider in configured}
        for c in choices
    ]


def routing(
    catalog: Catalog, specs: Mapping[str, ProviderSpec], configured: Collection[str]
) -> dict[str, object]:
    return {
        "object": "routing",
        "default_quality": catalog.default_quality,
        "qualities": {q: _order(q, catalog, specs, configured) for q in QUALITIES},
        # This catalog has no routing rules of its own yet: ``auto`` is ordered by quality.
        "rules": [],
    }
