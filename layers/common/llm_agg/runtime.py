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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import httpx

from llm_agg.accounting import Accounting
from llm_agg.api.chat import ChatCall
from llm_agg.api.errors import InvalidRequest, RequestTooLarge
from llm_agg.background import Background
from llm_agg.discovery import Discovery
from llm_agg.limits.circuits import Parked
from llm_agg.limits.quota import Quota
from llm_agg.limits.windows import ACCOUNT
from llm_agg.providers.accounts import Account, env_accounts
from llm_agg.providers.base import Adapter, Target
from llm_agg.providers.kinds import adapter_for, lister_for
from llm_agg.providers.listing import ModelLister
from llm_agg.providers.registry import build_registry
from llm_agg.routing.catalog import Catalog, load_catalog
from llm_agg.routing.classify import classify, estimate_tokens
from llm_agg.routing.discovery import merge
from llm_agg.routing.health import Health
from llm_agg.routing.rotation import conversation_of, order_accounts
from llm_agg.routing.select import Plan, Signals, plan
from llm_agg.settings import Settings
from llm_agg.store.base import CounterStore, ExpiringStore, Stores, UsageStore
from llm_agg.stored import Stored
from llm_agg.usage import UsageRecorder

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
        self._discovering: asyncio.Task[None] | None = None
        self._rechecking: asyncio.Task[None] | None = None
        self._discovered_at = float("-inf")  # time.monotonic() of the last routing refresh
        self._client: httpx.AsyncClient | None = None
        self._known: tuple[Catalog | None, frozenset[tuple[str, str]]] = (None, frozenset())

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
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(60.0, connect=self.settings.connect_timeout),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
            )
        return self._client

    def accounts(self) -> dict[str, list[Account]]:
        """Env accounts and enabled stored ones (``await self.stored.refresh()`` first keeps
        the store off the event loop)."""
        by_provider: dict[str, list[Account]] = {}
        for account in [*self._env_accounts, *self.stored.accounts()]:
            spec = self.specs.get(account.provider)
            if spec is not None and (not spec.probe or spec.name in self.reachable):
                by_provider.setdefault(account.provider, []).append(account)
        return by_provider

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

    def _discover(self, accounts: dict[str, list[Account]]) -> None:
        """Refresh the providers' model lists in the background, at most every
        ``discovery_interval`` seconds (never when it is 0)."""
        interval = self.settings.discovery_interval
        started = time.monotonic()
        if (
            interval <= 0
            or self._discovering is not None
            or started - self._discovered_at < interval
        ):
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

    def signals(self, provider: str, model: str, accounts: list[Account]) -> Signals:
        spec = self.specs[provider]
        room = max(
            (
                self.quota.headroom(provider, spec.quota_holder(a.account_id, a.quota_group), model)
                for a in accounts
            ),
            default=1.0,
        )
        return self.health.signals(provider, model, room)

    def plan(self, call: ChatCall, accounts: dict[str, list[Account]] | None = None) -> Plan:
        """The ordered provider/model candidates for ``call`` (pure but for what was measured)."""
        accounts = self.accounts() if accounts is None else accounts
        return plan(
            call,
            classify(call),
            self.view,
            self.specs,
            accounts.keys(),
            lambda p, m: self.signals(p, m, accounts.get(p, [])),
        )

    async def route(self, call: ChatCall) -> list[Target]:
        """Every (provider, model, account) that may serve ``call``, in the order to try, after
        re-reading the stored accounts when they are stale (in a thread). The only way in: no
        handler can route from accounts it forgot to refresh."""
        await self.stored.refresh()
        return self._targets(call)

    def _targets(self, call: ChatCall) -> list[Target]:
        """``route``'s order, from the accounts as last read: ready first, then those whose
        circuit is open, then those cooling down, where admission turns them down with their
        reset."""
        accounts = self.accounts()
        self._discover(accounts)
        self.quota.maybe_refresh()
        choices = self.plan(call, accounts).choices
        self._recheck_parked(accounts)
        refusals: list[str] = []
        too_large = 0  # of the refusals, those for the request's size
        ready: list[Target] = []
        failing: list[Target] = []  # circuit open (or its probe under way): a last resort
        cooling: list[Target] = []
        refused: list[Target] = []  # parked: admission turns them down, saying why
        conversation = None
        tokens: int | None = None
        for choice in choices:
            spec = self.specs[choice.provider]
            reason = spec.refusal_for(call.body)
            if spec.max_request_tokens is not None and not reason:
                tokens = estimate_tokens(call) if tokens is None else tokens
                if tokens > spec.max_request_tokens:
                    reason = f"{spec.name} takes at most {spec.max_request_tokens} tokens a request"
                    too_large += 1
            if reason:
                refusals.append(reason)
                continue
            mine = accounts[choice.provider]
            if len(mine) > 1 and conversation is None:
                conversation = conversation_of(call)
            for account in self._rotate(choice.provider, choice.model, mine, conversation):
                target = Target(spec, choice.model, account, choice.max_output)
                blocked = self.accounting.blocked(target)
                if blocked is not None:
                    (refused if blocked.refused else cooling).append(target)
                elif self.quota.circuits.blocking(spec.name, account.account_id) is not None:
                    failing.append(target)
                else:
                    ready.append(target)
        if not ready and not failing and not cooling and not refused:
            error = RequestTooLarge if too_large == len(refusals) else InvalidRequest
            raise error("No provider can take this request: " + "; ".join(refusals) + ".")
        return ready + failing + cooling + refused

    def _recheck_parked(self, accounts: dict[str, list[Account]]) -> None:
        """Now and then, ask the provider again about a key it refused: one that works again
        comes back into rotation without anyone running a check."""
        if self._rechecking is not None or self.settings.recheck_interval <= 0:
            return
        now = self.clock()
        due = [
            (p, a)
            for p in self.quota.circuits.all_parked()
            if now - p.at >= self.settings.recheck_interval
            for a in accounts.get(p.provider, [])
            if a.account_id == p.account
        ]
        if not due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._rechecking = loop.create_task(self._recheck(due))

    async def _recheck(self, due: list[tuple[Parked, Account]]) -> None:
        try:
            for parked, account in due:
                if await self._key_works(account):
                    log.info("key of %s/%s works again", account.provider, account.account_id)
                    self.quota.circuits.unpark(account.provider, account.account_id)
                else:
                    self.quota.circuits.touched(parked)
        except Exception as exc:  # best effort: the next interval tries again
            log.warning("re-check of refused keys failed: %s", type(exc).__name__)
        finally:
            self._rechecking = None

    async def _key_works(self, account: Account) -> bool:
        """Whether the provider now takes the key: its model list answers (a 429 too, as the
        admin check counts it), asked the way discovery asks it."""
        lister = self.listers.get(account.provider)
        if lister is None:
            return False
        spec = self.specs[account.provider]
        ask = lister.models_request(spec, account.api_key)
        response = await self.client.get(
            ask.url, headers={**ask.headers, **account.headers}, timeout=spec.timeout
        )
        return response.status_code < 300 or response.status_code == 429

    def status_of(self, provider: str, model: str, accounts: list[Account]) -> str:
        """``ready``, or when the soonest of its accounts is free again and why."""
        holders = {self.specs[provider].quota_holder(a.account_id, a.quota_group) for a in accounts}
        cooling = [self.quota.cooldowns.get(provider, h, model) for h in holders]
        if not accounts or any(c is None for c in cooling):
            return "ready"
        soonest = min((c for c in cooling if c is not None), key=lambda c: c.until)
        moment = datetime.fromtimestamp(soonest.until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"cooling down until {moment} ({soonest.reason})"

    def router_state(
        self, provider: str, account: str, group: str | None = None
    ) -> tuple[float | None, dict[str, object]]:
        """``known_state`` with what is left of each quota window (blocking: reads the store)."""
        until, known = self.known_state(provider, account, group)
        models = [m.id for m in self.view.for_provider(provider)]
        holder = self._holder(provider, account, group)
        return until, {**known, "quota": self.quota.report(provider, holder, models)}

    def _holder(self, provider: str, account: str, group: str | None = None) -> str:
        """Whose quota an account spends: its own, or its project's (``quota_holder``)."""
        spec = self.specs.get(provider)
        return spec.quota_holder(account, group) if spec is not None else account

    def known_state(
        self, provider: str, account: str, group: str | None = None
    ) -> tuple[float | None, dict[str, object]]:
        """What the router knows of one account, from memory: until when it is cooling down as
        a whole, if it is; every cooldown, of it or of one of its models; its circuit, last
        error, and whether its key is parked (refused, or no credits) until a check."""
        holder = self._holder(provider, account, group)
        mine = [
            c
            for c in self.quota.cooldowns.active()
            if (c.provider, c.account) == (provider, holder)
        ]
        whole = [c.until for c in mine if c.scope == ACCOUNT]
        key = next(
            (a.api_key for a in self.accounts().get(provider, []) if a.account_id == account),
            None,
        )
        parked = self.quota.circuits.parked(provider, account, key)
        circuit = self.quota.circuits.report(provider, account)
        seen = circuit["last_error_at"]
        if parked is not None and not (isinstance(seen, float) and seen >= parked.at):
            # The refusal that parked it is the error worth showing.
            circuit = {**circuit, "last_error": parked.message, "last_error_at": parked.at}
        return max(whole) if whole else None, {
            "cooling_down": [
                {"scope": c.scope, "until": c.until, "reason": c.reason} for c in mine
            ],
            **circuit,
            "parked": None
            if parked is None
            else {"reason": parked.reason, "message": parked.message, "since": parked.at},
        }

    def _rotate(
        self, provider: str, model: str, accounts: list[Account], conversation: str | None
    ) -> list[Account]:
        spec = self.specs[provider]

        def holder(a: Account) -> str:
            return spec.quota_holder(a.account_id, a.quota_group)

        return order_accounts(
            accounts,
            lambda a: a.account_id,
            lambda a: self.quota.headroom(provider, holder(a), model),
            lambda a: self.quota.last_used.get((provider, holder(a)), 0.0),
            conversation,
        )

    async def aclose(self) -> None:
        for task in (self._discovering, self._rechecking):
            if task is not None:
                task.cancel()
        await self.usage.flush()
        await self.background.drain()
        self.stored.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
