"""What the providers serve today, read from their models endpoints in the background.

Each configured provider's list is fetched at most every ``interval`` seconds and kept in the
store's expiring values for ``keep`` seconds, so every process shares one fetch. ``merge``
makes the catalog the router uses: a catalog model its provider no longer lists is left out
(it vanished), a free chat model the list shows and the catalog lacks is added with modest
tiers, and nothing changes for a provider whose list could not be read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict

import httpx
import orjson

from llm_agg.accounts import Account
from llm_agg.background import Background
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog, ModelInfo
from llm_agg.routing.models_lists import PARSERS, ListedModel, ModelsListError, openai_models
from llm_agg.store.base import ExpiringStore

log = logging.getLogger("llm_agg.discovery")

PREFIX = "models|"
DISCOVERED_QUALITY = 2  # a model nobody has rated: served, but after the catalog's own


def models_request(spec: ProviderSpec, account: Account) -> tuple[str, dict[str, str]]:
    """The URL and headers that list ``spec``'s models with ``account``'s key."""
    headers = {**spec.headers, **account.headers}
    key = account.api_key
    if spec.kind == "anthropic":
        if key:
            headers["x-api-key"] = key
        headers.setdefault("anthropic-version", "2023-06-01")
        return spec.base_url.rstrip("/") + "/v1/models", headers
    if key:
        headers["authorization"] = f"Bearer {key}"
    if spec.kind == "cohere":
        return spec.base_url.rstrip("/") + "/v1/models?endpoint=chat", headers
    return spec.models_url, headers


def parse(spec: ProviderSpec, body: bytes) -> list[ListedModel] | None:
    """The models in ``body``, or None when this provider's list cannot be read."""
    parser = PARSERS.get(spec.name) or (openai_models if spec.kind == "openai" else None)
    if parser is None:
        return None
    try:
        return parser(body) or None  # an empty list says more about the parser than the provider
    except ModelsListError as exc:
        log.warning("models list of %s unreadable: %s", spec.name, exc)
        return None


def merge(catalog: Catalog, listed: Mapping[str, list[ListedModel]]) -> tuple[Catalog, list[str]]:
    """The catalog as the providers' lists show it, and the ``provider/model``s that vanished."""
    kept: list[ModelInfo] = []
    vanished: list[str] = []
    for model in catalog.models:
        models = listed.get(model.provider)
        if models is None or any(m.id == model.id for m in models):
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


def _encode(fetched: float, models: list[ListedModel]) -> bytes:
    rows = [
        {**asdict(m), "capabilities": sorted(m.capabilities) if m.capabilities else None}
        for m in models
    ]
    return orjson.dumps({"fetched": fetched, "models": rows})


def _decode(value: bytes) -> tuple[float, list[ListedModel]]:
    data = orjson.loads(value)
    models = [
        ListedModel(**{**row, "capabilities": frozenset(row["capabilities"] or ()) or None})
        for row in data["models"]
    ]
    return float(data["fetched"]), models


class Discovery:
    def __init__(
        self,
        store: ExpiringStore,
        background: Background,
        clock: Callable[[], float] = time.time,
        interval: float = 3600.0,
        keep: float = 6 * 3600.0,
    ) -> None:
        self.store = store
        self.background = background
        self.clock = clock
        self.interval = interval
        self.keep = keep
        self.listed: dict[str, list[ListedModel]] = {}
        self.fetched_at: dict[str, float] = {}
        self._running: asyncio.Task[None] | None = None
        self._due = 0.0

    def due(self) -> bool:
        return self.interval > 0 and self._running is None and time.monotonic() >= self._due

    def start(
        self,
        client: httpx.AsyncClient,
        targets: Mapping[str, tuple[ProviderSpec, Account]],
        done: Callable[[], None],
    ) -> None:
        """Refresh in the background, then call ``done`` (on the loop) if anything changed."""
        self._due = time.monotonic() + self.interval
        self._running = asyncio.get_running_loop().create_task(self._refresh(client, targets, done))

    async def _refresh(
        self,
        client: httpx.AsyncClient,
        targets: Mapping[str, tuple[ProviderSpec, Account]],
        done: Callable[[], None],
    ) -> None:
        try:
            stored = await asyncio.to_thread(self.store.scan, PREFIX)
            before = dict(self.listed)
            now = self.clock()
            for key, value in stored.items():
                provider = key[len(PREFIX) :]
                fetched, models = _decode(value)
                if provider in targets and fetched > self.fetched_at.get(provider, float("-inf")):
                    self.listed[provider] = models
                    self.fetched_at[provider] = fetched
            stale = [
                name
                for name in targets
                if now - self.fetched_at.get(name, float("-inf")) >= self.interval
            ]
            await asyncio.gather(*(self._fetch(client, *targets[name], now) for name in stale))
            if self.listed != before:
                done()
        except Exception as exc:  # discovery is best effort: routing goes on from the catalog
            log.warning("model discovery failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._running = None

    async def _fetch(
        self, client: httpx.AsyncClient, spec: ProviderSpec, account: Account, now: float
    ) -> None:
        url, headers = models_request(spec, account)
        try:
            response = await client.get(url, headers=headers, timeout=10.0)
        except httpx.HTTPError as exc:
            log.warning("models list of %s: %s", spec.name, type(exc).__name__)
            return
        if response.status_code != 200:
            log.warning("models list of %s: HTTP %s", spec.name, response.status_code)
            return
        models = parse(spec, response.content)
        if models is None:
            return
        self.listed[spec.name] = models
        self.fetched_at[spec.name] = now
        value = _encode(now, models)
        self.background.spawn(self.store.put, PREFIX + spec.name, value, now + self.keep)
