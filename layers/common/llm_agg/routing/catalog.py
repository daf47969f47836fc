"""The model catalog of ``config/providers.yaml``: what each provider serves, how well, within
which free-tier limits, and the routing rules and per-``model_quality`` defaults.

Quality and speed are tiers from 1 (low) to 5 (high). ``limits`` name a kind (``r`` requests,
``t`` tokens), ``p``, and a window (``s``, ``m``, ``h``, ``d``): ``rpm``, ``rpd``, ``tpm``,
``tpd``, ``rps``... A model's limits count per account and model; a provider's own ``limits``
count per account across all its models (OpenRouter's free-model quota).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from llm_agg.providers.registry import BUILTIN
from llm_agg.routing import prebuilt
from llm_agg.routing.classify import TASKS
from llm_agg.routing.rules import RoutingRule, RuleError, parse_rules

CAPABILITIES = frozenset({"tools", "vision", "json", "reasoning"})
QUALITIES = ("fastest", "balanced", "best_quality")
_LIMIT_NAME = re.compile(r"[rt]p[smhd]")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    provider: str
    id: str
    context: int = 8192
    max_output: int = 4096
    capabilities: frozenset[str] = frozenset()
    quality: int = 3
    speed: int = 3
    free: bool = True
    limits: Mapping[str, int] = field(default_factory=dict)
    tasks: frozenset[str] = frozenset()  # what it is especially good at (code, reasoning)


@dataclass(frozen=True, slots=True)
class QualityProfile:
    """How one ``model_quality`` orders candidates: weights of the quality and speed tiers;
    models under ``min_quality`` come after every model that meets it."""

    quality: float
    speed: float
    min_quality: int = 1


DEFAULT_QUALITIES: Mapping[str, QualityProfile] = {
    "fastest": QualityProfile(quality=1, speed=4),
    "balanced": QualityProfile(quality=3, speed=2),
    "best_quality": QualityProfile(quality=4, speed=1, min_quality=4),
}


@dataclass(frozen=True, slots=True)
class Alias:
    """What a foreign model id (``claude-sonnet-4-5``) is served as: a model id of this
    gateway (``auto``, ``provider/model``, a catalog id) and, for ``auto``, a quality."""

    model: str
    model_quality: str | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    models: tuple[ModelInfo, ...] = ()
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default_quality: str = "balanced"
    qualities: Mapping[str, QualityProfile] = field(default_factory=lambda: DEFAULT_QUALITIES)
    rules: tuple[RoutingRule, ...] = ()
    account_limits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    checked: str | None = None
    max_attempts: int | None = None  # defaults.max_attempts: attempts per request
    aliases: tuple[tuple[str, Alias], ...] = ()  # (model id or glob, alias), first match wins

    def alias_for(self, model: str) -> Alias | None:
        return next((alias for pattern, alias in self.aliases if fnmatchcase(model, pattern)), None)

    def for_provider(self, provider: str) -> list[ModelInfo]:
        return [m for m in self.models if m.provider == provider]

    def model(self, provider: str, model_id: str) -> ModelInfo | None:
        return next((m for m in self.models if m.provider == provider and m.id == model_id), None)

    def with_models(self, models: tuple[ModelInfo, ...]) -> Catalog:
        return replace(self, models=models)


class CatalogError(ValueError):
    """The YAML file is not a catalog; the message says where."""


def _tier(value: Any, where: str) -> int:
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise CatalogError(f"{where}: must be a whole number from 1 to 5")
    return value


def _limits(value: Any, where: str) -> dict[str, int]:
    limits = value or {}
    if not isinstance(limits, dict) or not all(
        isinstance(v, int) and v > 0 for v in limits.values()
    ):
        raise CatalogError(f"{where}: must map names to positive whole numbers")
    wrong = sorted(k for k in limits if not _LIMIT_NAME.fullmatch(str(k)))
    if wrong:
        raise CatalogError(f"{where}: unknown limits {wrong} (rpm, rpd, tpm, tpd, rps, ...)")
    return dict(limits)


def _positive(value: Any, where: str, kind: type[int] | type[float]) -> None:
    """Seconds or a count: a number above 0 (a whole one for a count), or a clear error."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    number = whole or (kind is float and isinstance(value, float))
    if not number or value <= 0:
        what = "a whole number" if kind is int else "a number of seconds"
        raise CatalogError(f"{where}: must be {what} above 0, not {value!r}")


def _names(value: Any, allowed: frozenset[str], where: str) -> frozenset[str]:
    names = frozenset(value or ())
    unknown = names - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown {sorted(unknown)}; one of {sorted(allowed)}")
    return names


def _model(provider: str, entry: Any, where: str) -> ModelInfo:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise CatalogError(f"{where}: a model needs an 'id'")
    return ModelInfo(
        provider=provider,
        id=entry["id"],
        context=int(entry.get("context", 8192)),
        max_output=int(entry.get("max_output", 4096)),
        capabilities=_names(entry.get("capabilities"), CAPABILITIES, f"{where}.capabilities"),
        quality=_tier(entry.get("quality", 3), f"{where}.quality"),
        speed=_tier(entry.get("speed", 3), f"{where}.speed"),
        free=bool(entry.get("free", True)),
        limits=_limits(entry.get("limits"), f"{where}.limits"),
        tasks=_names(entry.get("tasks"), TASKS, f"{where}.tasks"),
    )


def _qualities(data: Any) -> dict[str, QualityProfile]:
    qualities = dict(DEFAULT_QUALITIES)
    if data is None:
        return qualities
    if not isinstance(data, dict) or set(data) - set(QUALITIES):
        raise CatalogError(f"defaults.qualities: a mapping with keys among {list(QUALITIES)}")
    for name, entry in data.items():
        where = f"defaults.qualities.{name}"
        if not isinstance(entry, dict) or set(entry) - {"quality", "speed", "min_quality"}:
            raise CatalogError(f"{where}: takes quality, speed (weights) and min_quality")
        base = qualities[name]
        try:
            qualities[name] = QualityProfile(
                quality=float(entry.get("quality", base.quality)),
                speed=float(entry.get("speed", base.speed)),
                min_quality=_tier(entry.get("min_quality", base.min_quality), where),
            )
        except (TypeError, ValueError):
            raise CatalogError(f"{where}: weights must be numbers") from None
    return qualities


def _aliases(data: Any) -> tuple[tuple[str, Alias], ...]:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise CatalogError("aliases: a mapping of model id (or glob) to a model id")
    aliases = []
    for pattern, entry in data.items():
        where = f"aliases.{pattern}"
        entry = {"model": entry} if isinstance(entry, str) else entry
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("model"), str)
            or set(entry) - {"model", "model_quality"}
        ):
            raise CatalogError(f"{where}: a model id, or {{model, model_quality}}")
        quality = entry.get("model_quality")
        if quality is not None and quality not in QUALITIES:
            raise CatalogError(f"{where}.model_quality: one of {list(QUALITIES)}")
        aliases.append((str(pattern), Alias(entry["model"], quality)))
    return tuple(aliases)


def parse_catalog(data: Any) -> Catalog:
    if data is None:
        return Catalog()
    if not isinstance(data, dict):
        raise CatalogError("the file must be a mapping with a 'providers' key")
    providers = data.get("providers") or {}
    if not isinstance(providers, dict):
        raise CatalogError("providers: must be a mapping of provider name to settings")
    models: list[ModelInfo] = []
    account_limits: dict[str, dict[str, int]] = {}
    for name, entry in providers.items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise CatalogError(f"providers.{name}: must be a mapping")
        for i, model in enumerate(entry.get("models") or ()):
            models.append(_model(name, model, f"providers.{name}.models[{i}]"))
        if entry.get("limits"):
            account_limits[name] = _limits(entry["limits"], f"providers.{name}.limits")
        if "timeout" in entry:
            _positive(entry["timeout"], f"providers.{name}.timeout", float)
    defaults = data.get("defaults") or {}
    max_attempts = defaults.get("max_attempts")
    if max_attempts is not None:
        _positive(max_attempts, "defaults.max_attempts", int)
    default_quality = str(defaults.get("model_quality", "balanced"))
    if default_quality not in QUALITIES:
        raise CatalogError(f"defaults.model_quality: one of {list(QUALITIES)}")
    try:
        rules = parse_rules(data.get("routing_rules"), {*BUILTIN, *providers})
    except RuleError as exc:
        raise CatalogError(str(exc)) from None
    listed = {f"{m.provider}/{m.id}" for m in models}
    for rule in rules:
        strangers = sorted(e for e in rule.order if "/" in e and e not in listed)
        if strangers:
            raise CatalogError(f"routing rule {rule.name!r}: no such models {strangers}")
    return Catalog(
        models=tuple(models),
        providers={name: dict(entry or {}) for name, entry in providers.items()},
        default_quality=default_quality,
        qualities=_qualities(defaults.get("qualities")),
        rules=rules,
        account_limits=account_limits,
        checked=str(data["checked"]) if data.get("checked") else None,
        max_attempts=max_attempts,
        aliases=_aliases(data.get("aliases")),
    )


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Catalog()
    data = prebuilt.read(text)  # the layer's own catalog, read when the layer was built
    try:
        return parse_catalog(read_yaml(text) if data is prebuilt.ABSENT else data)
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from None


def read_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, by libyaml when it can (~3 ms for the catalog where PyYAML's
    own parser takes ~30; the same SafeLoader rules build the values). A file it refuses is
    read again by PyYAML's parser, whose error (a ``CatalogError``) shows the line and points at
    the column (libyaml only names them)."""
    import yaml  # ~10 ms: not for a cold start that reads the layer's prebuilt catalog

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CatalogError(str(exc)) from None
