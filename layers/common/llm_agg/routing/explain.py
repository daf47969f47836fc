"""The router's decision for one request, said in words, without calling anyone.

Every provider is planned as if configured, so a rule can be tried before its keys exist;
each candidate says whether it has an account here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from llm_agg.api.chat import ChatCall
from llm_agg.api.errors import GatewayError
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog
from llm_agg.routing.classify import classify
from llm_agg.routing.select import plan


def explain(
    call: ChatCall,
    catalog: Catalog,
    specs: Mapping[str, ProviderSpec],
    configured: Collection[str],
) -> list[str]:
    profile = classify(call)
    tasks = ", ".join(sorted(profile.tasks))
    lines = [f"request: task {profile.task} ({tasks}), ~{profile.prompt_tokens} prompt tokens"]
    try:
        result = plan(call, profile, catalog, specs, specs.keys())
    except GatewayError as exc:
        return [*lines, f"no candidate: {exc.message}"]
    lines.append(f"model_quality: {result.quality}")
    for name, why in result.skipped_rules:
        lines.append(f"rule {name}: does not apply ({why})")
    lines.append(f"rule {result.rule}: applies" if result.rule else "rule: none applies")
    lines.append("candidates, in the order they are tried:")
    models = {(m.provider, m.id): m for m in catalog.models}
    for i, choice in enumerate(result.choices, 1):
        info = models.get((choice.provider, choice.model))
        facts = []
        if choice.via:
            facts.append(f"named by rule {choice.via}")
        if info is not None:
            facts.append("free" if info.free else "paid")
            facts.append(f"quality {info.quality}, speed {info.speed}")
            facts.append(f"score {choice.score:g}")
        else:
            facts.append("not in the catalog: passed through")
        if choice.provider not in configured:
            facts.append(f"NOT CONFIGURED (set {specs[choice.provider].setup_hint})")
        lines.append(f"  {i:>2}. {choice.provider}/{choice.model}: {'; '.join(facts)}")
    if result.excluded:
        lines.append("left out:")
        lines += [f"      {p}/{m}: {why}" for p, m, why in result.excluded]
    return lines
