"""What ``GET /admin/routing`` shows: the routing rules of the catalog, the weights of each
``model_quality``, and the order the router gives ``auto`` under each of them for a plain
request (asked of ``plan`` itself, with what the gateway has measured), every candidate
marked with whether it has an account here."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict

import orjson

from llm_agg.api.chat import parse_chat
from llm_agg.api.errors import GatewayError
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import QUALITIES, Catalog
from llm_agg.routing.classify import classify
from llm_agg.routing.rules import RoutingRule
from llm_agg.routing.select import AUTO, Signals, plan

SignalsOf = Callable[[str, str], Signals]


def _order(
    quality: str,
    catalog: Catalog,
    specs: Mapping[str, ProviderSpec],
    configured: Collection[str],
    signals: SignalsOf | None,
) -> list[dict[str, object]]:
    body = {"model": AUTO, "model_quality": quality, "messages": [{"role": "user", "content": ""}]}
    call = parse_chat(orjson.dumps(body))
    try:
        # Planned as if every provider had a key, so a rule's providers show before theirs do.
        result = plan(call, classify(call), catalog, specs, specs.keys(), signals)
    except GatewayError:
        return []
    return [
        {
            "provider": c.provider,
            "model": c.model,
            "score": round(c.score, 2),
            "configured": c.provider in configured,
        }
        for c in result.choices
    ]


def rule(entry: RoutingRule) -> dict[str, object]:
    c = entry.conditions
    return {
        "name": entry.name,
        "conditions": {
            "content_keywords": list(c.content_keywords),
            "task": sorted(c.tasks),
            "min_context": c.min_context,
            "needs": sorted(c.needs),
        },
        "provider_preferences": list(entry.provider_preferences),
        "fallback_chain": list(entry.fallback_chain),
    }


def routing(
    catalog: Catalog,
    specs: Mapping[str, ProviderSpec],
    configured: Collection[str],
    signals: SignalsOf | None = None,
) -> dict[str, object]:
    return {
        "object": "routing",
        "default_quality": catalog.default_quality,
        "profiles": {name: asdict(catalog.qualities[name]) for name in QUALITIES},
        "qualities": {q: _order(q, catalog, specs, configured, signals) for q in QUALITIES},
        "rules": [rule(r) for r in catalog.rules],
        "checked": catalog.checked,
    }
