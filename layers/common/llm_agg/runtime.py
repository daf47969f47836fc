"""What one gateway process keeps between requests: catalog, providers, accounts, the pooled
HTTP client, the stores, and what the router has learned (quota, health, discovered models).
A plain object made once per app and handed to it (``build_app``): the local server makes one
for all its mounted apps, a Lambda function one for its own; whoever made it closes it
(``aclose``) when the app shuts down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import httpx

from llm_agg.accounting import Accounting
from llm_agg.background import Background
from llm_agg.discovery import Discovery
from llm_agg.http_transport import upstream_client
from llm_agg.limits.quota import Quota
from llm_agg.providers.accounts import Account, env_accounts
from llm_agg.providers.base import Adapter
from llm_agg.providers.kinds import adapter_for, lister_for
from llm_agg.providers.listing import ModelLister
from llm_agg.providers.registry import build_registry
from llm_agg.router import Router
from llm_agg.routing.catalog import Catalog, load_catalog
from llm_agg.routing.discovery import merge
from llm_agg.routing.health import Health
from llm_agg.settings import Settings
from llm_agg.store.base import CounterStore, ExpiringStore, Stores, UsageStore
from llm_agg.store.nowait import WouldBlock
from llm_agg.stored import Stored
from llm_agg.usage import UsageRecorder

T = TypeVar("T")

log = logging.getLogger("llm_agg.runtime")

# Attempts per request unless configured: with attempts spread over providers, enough for any
# fallback chain to reach its third provider even when the first two fail twice each.
DEFAULT_MAX_ATTEMPTS = 6


class _Opened:
    """One of the stored backend's stores, opened on first use."""

    def __init__(self, stored: Stored, kind: str) -> None:
        self._stored = stored
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(self._stored.stores, self._kind), name)

    def nowait(self, work: Callable[[Any], T]) -> T:
        """The store's ``nowait`` (store/nowait.py) once it is open: opening may block."""
        if self._stored.opened:
            nowait = getattr(getattr(self._stored.stores, self._kind), "nowait", None)
            if nowait is not None:
                return cast(T, nowait(work))
        raise WouldBlock


class Runtime:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        stores: Stores | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.catalog = load_catalog(settings.config_path)
        self.max_attempts = (
            settings.max_attempts or self.catalog.max_attempts or DEFAULT_MAX_ATTEMPTS
        )
        self.view = self.catalog  # the catalog as the providers' model lists show it
        self.vanished: list[str] = []
        self.specs = build_registry(self.catalog.providers, settings.environ)
        self.adapters: dict[str, Adapter] = {
            name: adapter_for(spec) for name, spec in self.specs.items()
        }
        self.stored = Stored(settings, clock)
        # The environment does not change under a running process: read its keys once.
        self._env_accounts = env_accounts(self.specs.values(), settings.environ)
        # The router's state lives in the same backend, opened on first use. Every call the
        # router makes to it runs in a thread, where opening may block. Tests inject theirs.
        counters, expiring, usage = (
            (stores.counters, stores.expiring, stores.usage)
            if stores is not None
            else (
                cast(CounterStore, _Opened(self.stored, "counters")),
                cast(ExpiringStore, _Opened(self.stored, "expiring")),
                cast(UsageStore, _Opened(self.stored, "usage")),
            )
        )
        self.background = Background()
        self.quota = Quota(self.catalog, self.specs, counters, expiring, self.background, clock)
        self.health = Health()
        self.usage = UsageRecorder(usage, self.background, clock, known=self.knows_model)
        self.accounting = Accounting(self.quota, self.health, self.usage, clock, self.stored)
        self.discovery = Discovery(
            clock,
            ttl=settings.discovery_interval or 600.0,
            store=expiring,
            background=self.background,
        )
        self.listers: dict[str, ModelLister] = {
            name: lister_for(spec) for name, spec in self.specs.items()
        }
        # Local servers (``ProviderSpec.probe``) that answered their last model listing.
        self.reachable: set[str] = set()
        self._by_provider: tuple[Mapping[str, Sequence[Account]], object, object] = ({}, None, None)
        self._discovering: asyncio.Task[None] | None = None
        self._discovered_at = float("-inf")  # time.monotonic() of the last routing refresh
        self._client: httpx.AsyncClient | None = None
        self._known: tuple[Catalog | None, frozenset[tuple[str, str]]] = (None, frozenset())
        self.router = Router(
            self.specs,
            self.listers,
            self.quota,
            self.health,
            self.accounting,
            clock,
            settings.recheck_interval,
            view=lambda: self.view,
            accounts=self.accounts,
            refresh=self.stored.refreshing,
            discover=self._discover,
            client=lambda: self.client,
            quiet=self.quiet,
        )

    def knows_model(self, provider: str, model: str) -> bool:
        """Whether the catalog, or a provider's model list, names ``provider/model``."""
        view = self.view
        if self._known[0] is not view:
            self._known = (view, frozenset((m.provider, m.id) for m in view.models))
        return (provider, model) in self._known[1]

    @property
    def client(self) -> httpx.AsyncClient:
        """One pooled client per process: connections to upstreams are kept alive."""
        if self._client is None:
            self._client = upstream_client(
                timeout=httpx.Timeout(60.0, connect=self.settings.connect_timeout),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
            )
        return self._client

    def accounts(self) -> Mapping[str, Sequence[Account]]:
        """Env accounts and enabled stored ones (``await self.stored.refresh()`` first keeps
        the store off the event loop, as ``router.route`` does). The same mapping while the
        stored accounts and the local servers reached stay the same objects (both are replaced,
        never changed): every request routed built it again."""
        stored, reachable = self.stored.accounts(), self.reachable
        built, of_stored, of_reachable = self._by_provider
        if stored is of_stored and reachable is of_reachable:
            return built
        by_provider: dict[str, list[Account]] = {}
        for account in [*self._env_accounts, *stored]:
            spec = self.specs.get(account.provider)
            if spec is not None and (not spec.probe or spec.name in reachable):
                by_provider.setdefault(account.provider, []).append(account)
        self._by_provider = (by_provider, stored, reachable)
        return by_provider

    def quiet(self) -> tuple[Catalog, Mapping[str, Sequence[Account]]] | None:
        """The catalog view and the accounts a request is routed from, when routing has
        nothing to do first: the stored accounts fresh (``Stored.fresh``) and the mapping
        ``accounts`` built from them the last one, no refresh of the model lists (``_discover``)
        or of the quota (``Quota.maybe_refresh``) due. None otherwise: the router goes the
        whole way. Asked on every request (``Router.route``): one call, where the whole way is
        some ten, each paid several times over on a vCPU come back cold (issue 17)."""
        stored = self.stored.fresh()
        built, of_stored, of_reachable = self._by_provider
        if stored is None or stored is not of_stored or self.reachable is not of_reachable:
            return None
        now = time.monotonic()
        if self._discovery_due(now) or self.quota.refresh_due(now):
            return None
        return self.view, built

    def _probed(self) -> dict[str, str | None]:
        """The local servers to ask whether they are there, with their keys if any."""
        return {a.provider: a.api_key for a in self._env_accounts if self.specs[a.provider].probe}

    async def probe(self) -> None:
        """Ask each local server (Ollama) for its models: one that answers is configured (the
        local server does this at start)."""
        keys = self._probed()
        if not keys:
            return
        try:
            listed = await self.discovery.listed(self.client, self.specs, self.listers, keys)
        except Exception as exc:  # best effort: without an answer it is simply not there
            log.info("local servers not probed: %s", type(exc).__name__)
            return
        self._reached(keys, listed)

    def _reached(self, keys: dict[str, str | None], listed: dict[str, Any]) -> None:
        self.reachable = {name for name in self.reachable if name not in keys} | {
            name for name in keys if name in listed
        }

    def _discovery_due(self, now: float) -> bool:
        """Whether ``_discover`` would start a refresh of the model lists at ``now``."""
        interval = self.settings.discovery_interval
        return interval > 0 and self._discovering is None and now - self._discovered_at >= interval

    def _discover(self, accounts: Mapping[str, Sequence[Account]]) -> None:
        """Refresh the providers' model lists in the background, at most every
        ``discovery_interval`` seconds (never when it is 0)."""
        started = time.monotonic()
        if not self._discovery_due(started):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # routed from synchronous code: the next request on a loop refreshes
        self._discovered_at = started
        # Local servers are asked again here, answering or not: one that stops answering drops
        # out, one started after the gateway comes in.
        keys = {name: mine[0].api_key for name, mine in accounts.items() if mine}
        keys = {**self._probed(), **keys}
        self._discovering = loop.create_task(self._refresh_view(keys))

    async def _refresh_view(self, keys: dict[str, str | None]) -> None:
        try:
            listed = await self.discovery.listed(self.client, self.specs, self.listers, keys)
            self._reached({k: v for k, v in keys.items() if self.specs[k].probe}, listed)
            self.view, self.vanished = merge(self.catalog, listed)
            self.quota.use_catalog(self.view)
        except Exception as exc:  # best effort: routing goes on from what it knew
            log.warning("model discovery failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._discovering = None

    async def aclose(self) -> None:
        if self._discovering is not None:
            self._discovering.cancel()
        self.router.close()
        await self.usage.flush()
        await self.background.drain()
        self.stored.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
