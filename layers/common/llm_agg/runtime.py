"""What one gateway process keeps between requests: catalog, providers, accounts, the pooled
HTTP client and cooldowns. Made lazily, once per ``Settings``, shared by every app built with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from llm_agg.accounts import Account, env_accounts
from llm_agg.api.chat import ChatCall
from llm_agg.api.errors import InvalidRequest, RateLimited
from llm_agg.limits.cooldown import Cooldowns
from llm_agg.providers.adapters import adapter_for
from llm_agg.providers.base import Adapter, Target
from llm_agg.providers.discovery import Discovery
from llm_agg.providers.registry import build_registry
from llm_agg.routing.catalog import load_catalog
from llm_agg.routing.select import plan
from llm_agg.settings import Settings
from llm_agg.stored import Stored


class Runtime:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.catalog = load_catalog(settings.config_path)
        self.specs = build_registry(self.catalog.providers, settings.environ)
        self.adapters: dict[str, Adapter] = {
            name: adapter
            for name, spec in self.specs.items()
            if (adapter := adapter_for(spec)) is not None
        }
        self.cooldowns = Cooldowns(clock)
        self.stored = Stored(settings, clock)
        self.discovery = Discovery(clock)
        self._client: httpx.AsyncClient | None = None

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
        env = env_accounts(self.specs.values(), self.settings.environ)
        for account in [*env, *self.stored.accounts()]:
            if account.provider in self.adapters:
                by_provider.setdefault(account.provider, []).append(account)
        return by_provider

    def targets(self, call: ChatCall) -> list[Target]:
        """Every (provider, model, account) that may serve ``call``, in the order to try."""
        accounts = self.accounts()
        choices = plan(call, self.catalog, self.specs, accounts.keys())
        refusals: list[str] = []
        cooling: list[float] = []
        targets: list[Target] = []
        for choice in choices:
            spec = self.specs[choice.provider]
            reason = spec.refusal_for(call.body)
            if reason:
                refusals.append(reason)
                continue
            for account in accounts[choice.provider]:
                until = self.cooldowns.until((account.provider, account.account_id))
                if until is not None:
                    cooling.append(until)
                    continue
                targets.append(Target(spec, choice.model, account, choice.max_output))
        if targets:
            return targets
        if cooling:
            wait = max(1, round(min(cooling) - self.cooldowns.clock()))
            raise RateLimited(
                f"Every provider for {call.request.model!r} is rate-limited; "
                f"the soonest is free again in {wait}s.",
                headers={"retry-after": str(wait)},
            )
        raise InvalidRequest("No provider can take this request: " + "; ".join(refusals) + ".")

    async def aclose(self) -> None:
        self.stored.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


_RUNTIMES: dict[int, tuple[Settings, Runtime]] = {}


def get_runtime(settings: Settings) -> Runtime:
    entry = _RUNTIMES.get(id(settings))
    if entry is None:
        entry = _RUNTIMES[id(settings)] = (settings, Runtime(settings))
    return entry[1]


async def close_runtimes() -> None:
    for _, runtime in list(_RUNTIMES.values()):
        await runtime.aclose()
    _RUNTIMES.clear()
