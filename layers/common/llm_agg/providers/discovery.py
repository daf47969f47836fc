"""Which models a provider serves, asked of the provider itself, for ``GET /v1/models``.

An adapter that can list models (``ModelLister``) gives the request and a pure parser of its
provider's format; ``Discovery`` fetches each such provider once per ``ttl`` with the first
account's key, and a provider that cannot be asked (no key, an error, a timeout) is listed
from the catalog instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

from llm_agg.providers.base import MalformedResponse, UpstreamRequest
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import ModelInfo

log = logging.getLogger("llm_agg.discovery")


@dataclass(frozen=True, slots=True)
class ListedModel:
    id: str
    created: int = 0
    context: int | None = None


@runtime_checkable
class ModelLister(Protocol):
    def models_request(self, spec: ProviderSpec, api_key: str | None) -> UpstreamRequest: ...

    def parse_models(self, body: bytes) -> list[ListedModel]: ...


class Discovery:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        ttl: float = 600.0,
        retry: float = 60.0,
        timeout: float = 5.0,
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        self._retry = retry  # a failed listing is not asked again before this
        self._timeout = timeout
        self._cache: dict[str, tuple[float, list[ListedModel] | None]] = {}

    async def _fetch(
        self, client: httpx.AsyncClient, spec: ProviderSpec, lister: ModelLister, key: str | None
    ) -> list[ListedModel] | None:
        request = lister.models_request(spec, key)
        try:
            response = await client.get(
                request.url, headers=request.headers, timeout=min(self._timeout, spec.timeout)
            )
        except httpx.HTTPError as exc:
            log.warning("model list failed: provider=%s error=%s", spec.name, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("model list failed: provider=%s status=%s", spec.name, response.status_code)
            return None
        try:
            return lister.parse_models(response.content)
        except MalformedResponse as exc:
            log.warning("model list failed: provider=%s error=%s", spec.name, exc)
            return None

    async def listed(
        self,
        client: httpx.AsyncClient,
        specs: Mapping[str, ProviderSpec],
        adapters: Mapping[str, object],
        keys: Mapping[str, str | None],
    ) -> dict[str, list[ListedModel]]:
        """The models of every provider in ``keys`` (provider → API key) that can list them."""
        now = self._clock()
        due: list[tuple[str, ModelLister]] = []
        for name, key in keys.items():
            adapter = adapters.get(name)
            cached = self._cache.get(name)
            if isinstance(adapter, ModelLister) and key and (cached is None or cached[0] <= now):
                due.append((name, adapter))
        fetched = await asyncio.gather(
            *(self._fetch(client, specs[name], lister, keys[name]) for name, lister in due)
        )
        for (name, _), models in zip(due, fetched, strict=True):
            self._cache[name] = (now + (self._ttl if models else self._retry), models)
        return {
            name: models
            for name in keys
            if (entry := self._cache.get(name)) and (models := entry[1]) is not None
        }


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
