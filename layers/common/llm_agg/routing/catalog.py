"""The model catalog of ``config/providers.yaml``: what each provider serves and how well.

Quality and speed are tiers from 1 (low) to 5 (high); ``limits`` are the published free-tier
limits (``rpm``, ``rpd``, ``tpm``, ``tpd``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CAPABILITIES = frozenset({"tools", "vision", "json", "reasoning"})


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


@dataclass(frozen=True, slots=True)
class Catalog:
    models: tuple[ModelInfo, ...] = ()
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default_quality: str = "balanced"

    def for_provider(self, provider: str) -> list[ModelInfo]:
        return [m for m in self.models if m.provider == provider]

    def find(self, model_id: str) -> list[ModelInfo]:
        return [m for m in self.models if m.id == model_id]


class CatalogError(ValueError):
    """The YAML file is not a catalog; the message says where."""


def _tier(value: Any, where: str) -> int:
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise CatalogError(f"{where}: must be a whole number from 1 to 5")
    return value


def _model(provider: str, entry: Any, where: str) -> ModelInfo:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise CatalogError(f"{where}: a model needs an 'id'")
    caps = frozenset(entry.get("capabilities") or ())
    unknown = caps - CAPABILITIES
    if unknown:
        raise CatalogError(f"{where}: unknown capabilities {sorted(unknown)}")
    limits = entry.get("limits") or {}
    if not isinstance(limits, dict) or not all(isinstance(v, int) for v in limits.values()):
        raise CatalogError(f"{where}.limits: must map names to whole numbers")
    return ModelInfo(
        provider=provider,
        id=entry["id"],
        context=int(entry.get("context", 8192)),
        max_output=int(entry.get("max_output", 4096)),
        capabilities=caps,
        quality=_tier(entry.get("quality", 3), f"{where}.quality"),
        speed=_tier(entry.get("speed", 3), f"{where}.speed"),
        free=bool(entry.get("free", True)),
        limits=dict(limits),
    )


def parse_catalog(data: Any) -> Catalog:
    if data is None:
        return Catalog()
    if not isinstance(data, dict):
        raise CatalogError("the file must be a mapping with a 'providers' key")
    providers = data.get("providers") or {}
    if not isinstance(providers, dict):
        raise CatalogError("providers: must be a mapping of provider name to settings")
    models: list[ModelInfo] = []
    for name, entry in providers.items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise CatalogError(f"providers.{name}: must be a mapping")
        for i, model in enumerate(entry.get("models") or ()):
            models.append(_model(name, model, f"providers.{name}.models[{i}]"))
    defaults = data.get("defaults") or {}
    return Catalog(
        models=tuple(models),
        providers={name: dict(entry or {}) for name, entry in providers.items()},
        default_quality=str(defaults.get("model_quality", "balanced")),
    )


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Catalog()
    try:
        return parse_catalog(yaml.safe_load(text))
    except (yaml.YAMLError, CatalogError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
