"""Which models each provider serves, asked of the provider itself, once per ``ttl``.

``Discovery`` fetches the list of each provider that can give one (``ModelLister``) with its
first account's key; a provider that cannot be asked (no key, an error, a timeout) gives no
list, and the router and ``GET /v1/models`` use the catalog for it. With a ``store``, a list
one process fetched serves every other process until its ``ttl`` is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import httpx
import orjson

from llm_agg.background import Background
from llm_agg.providers.base import MalformedResponse
from llm_agg.providers.listing import ListedModel, ModelLister
from llm_agg.providers.spec import ProviderSpec
from llm_agg.store.base import ExpiringStore

log = logging.getLogger("llm_agg.discovery")


STORED = "models|"  # expiring-store key prefix of the shared lists


def _encode(fetched: float, models: list[ListedModel]) -> bytes:
    rows = [
        [m.id, m.created, m.context, m.max_output, m.free, m.chat,
         sorted(m.capabilities) if m.capabilities is not None else None]
        for m in models
    ]  # fmt: skip
    return orjson.dumps({"fetched": fetched, "models": rows})


def _decode(value: bytes) -> tuple[float, list[ListedModel]]:
    data = orjson.loads(value)
    models = [
        ListedModel(i, created, context, out, free, chat, None if caps is None else frozenset(caps))
        for i, created, context, out, free, chat, caps in data["models"]
    ]
    return float(data["fetched"]), models


class Discovery:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        ttl: float = 600.0,
        retry: float = 60.0,
        timeout: float = 5.0,
        store: ExpiringStore | None = None,
        background: Background | None = None,
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        # A failed listing is not asked again before this, nor kept longer than a good one (a
        # local server started late is picked up within the discovery interval).
        self._retry = min(retry, ttl)
        self._timeout = timeout
        self._cache: dict[str, tuple[float, list[ListedModel] | None]] = {}
        self._store = store
        self._background = background or Background()

    def _shared(self, names: list[str], now: float) -> dict[str, tuple[float, list[ListedModel]]]:
        """Lists other processes fetched and that are still fresh (blocking)."""
        found = {}
        for name in names:
            value = self._store.get(STORED + name) if self._store is not None else None
            if value is None:
                continue
            try:
                fetched, models = _decode(value)
            except (ValueError, KeyError, TypeError):
                continue
            if fetched + self._ttl > now:
                found[name] = (fetched + self._ttl, models)
        return found

    async def _fetch(
        self, client: httpx.AsyncClient, spec: ProviderSpec, lister: ModelLister, key: str | None
    ) -> list[ListedModel] | None:
        request = lister.models_request(spec, key)
        try:
            response = await client.get(
                request.url, headers=request.headers, timeout=min(self._timeout, spec.timeout)
            )
        except Exception as exc:  # one provider's trouble never costs the others their lists
            # A local server that is not running (Ollama) is the usual case, not a fault.
            level = logging.INFO if spec.probe else logging.WARNING
            log.log(level, "model list failed: provider=%s error=%s", spec.name, type(exc).__name__)
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
            keyed = key or not specs[name].key_required
            if isinstance(adapter, ModelLister) and keyed and (cached is None or cached[0] <= now):
                due.append((name, adapter))
        if due and self._store is not None:
            shared = await asyncio.to_thread(self._shared, [name for name, _ in due], now)
            self._cache.update(shared)
            due = [(name, lister) for name, lister in due if name not in shared]
        fetched = await asyncio.gather(
            *(self._fetch(client, specs[name], lister, keys[name]) for name, lister in due)
        )
        for (name, _), models in zip(due, fetched, strict=True):
            self._cache[name] = (now + (self._ttl if models else self._retry), models)
            if models and self._store is not None:
                value = _encode(now, models)
                self._background.spawn(self._store.put, STORED + name, value, now + self._ttl)
        return {
            name: models
            for name in keys
            if (entry := self._cache.get(name)) and (models := entry[1]) is not None
        }
