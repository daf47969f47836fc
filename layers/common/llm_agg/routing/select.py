"""Which provider and model may serve a request, in the order to try them. Pure.

``provider/model`` (a provider's name before the first slash) or the ``provider`` field forces
a provider, and a model id the catalog does not know is then passed through as is; a bare id is
served by every provider the catalog lists it under; ``auto`` picks from the whole catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from llm_agg.api.chat import ChatCall, Needs
from llm_agg.api.errors import InvalidRequest, NoProviderConfigured, NotFound
from llm_agg.providers.registry import env_prefix
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog, ModelInfo

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Choice:
    provider: str
    model: str
    max_output: int | None = None


def split_model(model: str, providers: Collection[str]) -> tuple[str | None, str]:
    """``groq/llama-3.3-70b`` → (``groq``, ``llama-3.3-70b``); ``deepseek/r1`` stays whole."""
    prefix, slash, rest = model.partition("/")
    if slash and prefix in providers and rest:
        return prefix, rest
    return None, model


def _fits(model: ModelInfo, needs: Needs) -> bool:
    caps = model.capabilities
    return (
        (not needs.tools or "tools" in caps)
        and (not needs.vision or "vision" in caps)
        and (not needs.json or "json" in caps)
    )


def _order_key(quality: str) -> Callable[[ModelInfo], tuple[int, ...]]:
    def key(m: ModelInfo) -> tuple[int, ...]:
        if quality == "fastest":
            return (not m.free, -m.speed, -m.quality)
        if quality == "best_quality":
            return (not m.free, -m.quality, -m.speed)
        return (not m.free, -(m.quality + m.speed), -m.quality)

    return key


def _how_to_configure(providers: Collection[str]) -> str:
    names = sorted(providers)
    keys = " or ".join(f"{env_prefix(p)}_API_KEY" for p in names[:3])
    return f"set {keys}, or add an account with `llm-agg configure`"


def plan(
    call: ChatCall,
    catalog: Catalog,
    specs: Mapping[str, ProviderSpec],
    configured: Collection[str],
) -> list[Choice]:
    """The provider/model pairs that may serve ``call``, best first."""
    request = call.request
    prefixed, model_id = split_model(request.model, specs)
    forced = request.provider or prefixed
    if request.provider and prefixed and request.provider != prefixed:
        raise InvalidRequest(
            f"'provider' is {request.provider!r} but the model names {prefixed!r}.",
            param="provider",
        )
    if forced is not None and forced not in specs:
        raise InvalidRequest(
            f"Unknown provider {forced!r}; known providers: {', '.join(sorted(specs))}.",
            param="provider",
            code="unknown_provider",
        )
    pool = catalog.for_provider(forced) if forced else list(catalog.models)
    if model_id == AUTO:
        if not pool and forced:
            raise InvalidRequest(
                f"The catalog lists no model of {forced!r}: name one, as '{forced}/<model>'.",
                param="model",
            )
        fitting = [m for m in pool if _fits(m, call.needs)]
        if not fitting:
            raise InvalidRequest(
                f"No model in the catalog can take this request (it needs {_wants(call.needs)}).",
                param="model",
            )
        fitting.sort(key=_order_key(request.model_quality or catalog.default_quality))
        choices = [Choice(m.provider, m.id, m.max_output) for m in fitting]
    else:
        choices = [Choice(m.provider, m.id, m.max_output) for m in pool if m.id == model_id]
        if not choices:
            if forced is None:
                raise NotFound(
                    f"The model {request.model!r} does not exist in the catalog; "
                    "see GET /v1/models, or force a provider with 'provider/model'.",
                    param="model",
                    code="model_not_found",
                )
            choices = [Choice(forced, model_id)]
    ready = [c for c in choices if c.provider in configured]
    if not ready:
        wanted = {c.provider for c in choices}
        raise NoProviderConfigured(
            f"No provider that serves {request.model!r} is configured: {_how_to_configure(wanted)}."
        )
    return ready


def _wants(needs: Needs) -> str:
    named = {"tools": needs.tools, "images": needs.vision, "JSON mode": needs.json}
    return ", ".join(name for name, wanted in named.items() if wanted)
