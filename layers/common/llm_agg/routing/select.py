"""Which provider and model may serve a request, in the order to try them. Pure.

``provider/model`` (a provider's name before the first slash) or the ``provider`` field forces
a provider, and a model id the catalog does not know is then passed through as is; a bare id is
served by every provider the catalog lists it under; ``auto`` picks from the whole catalog,
keeping the models that can take the request (tools, images, JSON mode, prompt length).

Order: the first routing rule that applies puts the candidates it names first, in its order;
then free before paid, models meeting the ``model_quality``'s minimum tier before the others,
then a score: the quality and speed tiers weighted by ``model_quality``, a bonus for a model
good at the request's task, scaled down by a measured failure rate and by a quota nearly spent.
Measured latency replaces half of the catalog's speed tier once there are a few samples.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from llm_agg.api.chat import ChatCall, Needs
from llm_agg.api.errors import InvalidRequest, NoProviderConfigured, NotFound
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog, ModelInfo, QualityProfile
from llm_agg.routing.classify import Profile
from llm_agg.routing.rules import RoutingRule, first_match

AUTO = "auto"
TASK_BONUS = 2.0
MIN_SAMPLES = 3  # measurements before latency counts


@dataclass(frozen=True, slots=True)
class Signals:
    """What the gateway has measured of one provider and model: moving averages of latency and
    success, and the share of quota left on its best account (1.0 when unknown)."""

    latency_ms: float | None = None
    success: float = 1.0
    samples: int = 0
    headroom: float = 1.0


NO_SIGNALS = Signals()


@dataclass(frozen=True, slots=True)
class Choice:
    provider: str
    model: str
    max_output: int | None = None
    score: float = 0.0
    via: str = ""  # the rule entry that placed it, if any


@dataclass(frozen=True, slots=True)
class Plan:
    choices: list[Choice]
    profile: Profile
    quality: str
    rule: str | None = None
    skipped_rules: list[tuple[str, str]] = field(default_factory=list)
    excluded: list[tuple[str, str, str]] = field(default_factory=list)  # provider, model, why


def split_model(model: str, providers: Collection[str]) -> tuple[str | None, str]:
    """``groq/llama-3.3-70b`` → (``groq``, ``llama-3.3-70b``); ``deepseek/r1`` stays whole."""
    prefix, slash, rest = model.partition("/")
    if slash and prefix in providers and rest:
        return prefix, rest
    return None, model


def _unfit(model: ModelInfo, needs: Needs, tokens: int) -> str | None:
    if needs.tools or needs.vision or needs.json:  # usually none: asked of every model
        caps = model.capabilities
        lacks = [
            name
            for name, wanted, cap in (
                ("tools", needs.tools, "tools"),
                ("images", needs.vision, "vision"),
                ("JSON mode", needs.json, "json"),
            )
            if wanted and cap not in caps
        ]
        if lacks:
            return "no " + ", ".join(lacks)
    if tokens > model.context:
        return f"context {model.context} < ~{tokens} tokens needed"
    return None


def _latency_tier(ms: float) -> float:
    for tier, bound in ((5.0, 500), (4.0, 1000), (3.0, 2000), (2.0, 4000)):
        if ms < bound:
            return tier
    return 1.0


def score(model: ModelInfo, profile: Profile, weights: QualityProfile, signals: Signals) -> float:
    speed = float(model.speed)
    if signals.samples >= MIN_SAMPLES and signals.latency_ms is not None:
        speed = (speed + _latency_tier(signals.latency_ms)) / 2
    value = weights.quality * model.quality + weights.speed * speed
    if profile.tasks & model.tasks or (
        "reasoning" in profile.tasks and "reasoning" in model.capabilities
    ):
        value += TASK_BONUS
    return value * (0.25 + 0.75 * signals.success) * (0.8 + 0.2 * signals.headroom)


def _rule_rank(rule: RoutingRule | None, model: ModelInfo) -> tuple[int, str]:
    if rule is None:
        return 0, ""
    for position, entry in enumerate(rule.order):
        if entry == model.provider or entry == f"{model.provider}/{model.id}":
            return position, rule.name if "/" in entry else f"{rule.name} ({entry})"
    return len(rule.order), ""


def _how_to_configure(providers: Sequence[str], specs: Mapping[str, ProviderSpec]) -> str:
    """The keys to set, best candidates first (free before paid, as routing would try them)."""
    names = list(providers)
    keys = " or ".join(specs[p].setup_hint for p in names[:3])
    return f"set {keys}, or add an account with `llm-agg configure`"


def _wants(needs: Needs) -> str:
    named = {"tools": needs.tools, "images": needs.vision, "JSON mode": needs.json}
    return ", ".join(name for name, wanted in named.items() if wanted) or "nothing special"


def _forced(call: ChatCall, specs: Collection[str]) -> tuple[str | None, str]:
    request = call.request
    prefixed, model_id = split_model(request.model, specs)
    if request.provider and prefixed and request.provider != prefixed:
        raise InvalidRequest(
            f"'provider' is {request.provider!r} but the model names {prefixed!r}.",
            param="provider",
        )
    forced = request.provider or prefixed
    if forced is not None and forced not in specs:
        raise InvalidRequest(
            f"Unknown provider {forced!r}; known providers: {', '.join(sorted(specs))}.",
            param="provider",
            code="unknown_provider",
        )
    return forced, model_id


def lone(
    call: ChatCall, catalog: Catalog, specs: Collection[str], configured: Collection[str]
) -> Choice | None:
    """The one candidate of a request that names its model (``provider/model``, or an id one
    configured provider serves): ``plan``'s only choice but for its score and the rule that
    placed it, which order nothing when there is one. The router takes it without classifying
    the request (10 of its 20 µs). None when ``plan`` must decide: ``auto``, several
    candidates, or an error to explain; a forced provider that is unknown raises as there."""
    if call.request.model == AUTO:
        return None  # before _forced, which plan runs again: auto pays nothing for this
    forced, model_id = _forced(call, specs)
    if model_id == AUTO:
        return None
    found: ModelInfo | None = None
    for m in catalog.for_provider(forced) if forced else catalog.models:
        if m.id == model_id and m.provider in configured:
            if found is not None:
                return None
            found = m
    if found is not None:
        return Choice(found.provider, found.id, found.max_output)
    if forced is not None and forced in configured:
        return Choice(forced, model_id)  # not in the catalog: passed through, as ``plan`` does
    return None


def plan(
    call: ChatCall,
    profile: Profile,
    catalog: Catalog,
    specs: Mapping[str, ProviderSpec],
    configured: Collection[str],
    signals: Callable[[str, str], Signals] | None = None,
    *,
    only: Collection[str] | None = None,
) -> Plan:
    """The provider/model pairs that may serve ``call``, best first, and why. ``signals``
    gives what was measured of a provider and model (nothing, when omitted). ``only``: the
    models of these providers alone are looked at (the router's hot path, with the configured
    ones: the same choices, as each model's rank is its own, but ``excluded`` and any error
    then speak of those alone)."""
    measured = signals or (lambda provider, model: NO_SIGNALS)
    request = call.request
    forced, model_id = _forced(call, specs)
    quality = request.model_quality or catalog.default_quality
    weights = catalog.qualities[quality]
    pool = catalog.for_provider(forced) if forced else list(catalog.models)
    if only is not None:
        pool = [m for m in pool if m.provider in only]
    excluded: list[tuple[str, str, str]] = []
    if model_id == AUTO:
        if not pool and forced:
            raise InvalidRequest(
                f"The catalog lists no model of {forced!r}: name one, as '{forced}/<model>'.",
                param="model",
            )
        needed = profile.prompt_tokens + (request.max_completion_tokens or request.max_tokens or 0)
        fitting = []
        for m in pool:
            why = _unfit(m, profile.needs, needed)
            if why is None:
                fitting.append(m)
            else:
                excluded.append((m.provider, m.id, why))
        if not fitting:
            too_long = all("context" in why for *_, why in excluded)
            raise InvalidRequest(
                f"No model in the catalog can take this request (~{needed} tokens, "
                f"it needs {_wants(profile.needs)}).",
                param="messages" if too_long else "model",
                code="context_length_exceeded" if too_long else None,
            )
    else:
        fitting = [m for m in pool if m.id == model_id]
        if not fitting and forced is None:
            raise NotFound(
                f"The model {request.model!r} does not exist in the catalog; "
                "see GET /v1/models, or force a provider with 'provider/model'.",
                param="model",
                code="model_not_found",
            )
    rule, skipped = first_match(catalog.rules, profile, profile.needs)
    ranked = []
    for m in fitting:
        value = score(m, profile, weights, measured(m.provider, m.id))
        position, via = _rule_rank(rule, m)
        key = (position, not m.free, m.quality < weights.min_quality, -value, m.provider, m.id)
        ranked.append((key, Choice(m.provider, m.id, m.max_output, round(value, 2), via)))
    ranked.sort(key=lambda pair: pair[0])
    choices = [choice for _, choice in ranked]
    if not choices and forced is not None:
        choices = [Choice(forced, model_id)]  # a model the catalog does not list: pass through
    ready = [c for c in choices if c.provider in configured]
    excluded += [
        (c.provider, c.model, "provider not configured")
        for c in choices
        if c.provider not in configured
    ]
    if not ready:
        wanted = list(dict.fromkeys(c.provider for c in choices))
        how = _how_to_configure(wanted, specs)
        served = f"No provider that serves {request.model!r} is configured"
        raise NoProviderConfigured(f"{served}: {how}.")
    return Plan(ready, profile, quality, rule.name if rule else None, skipped, excluded)
