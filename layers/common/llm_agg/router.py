"""The router: for each request, the (provider, model, account) targets to try in order, from
the catalog as the providers' lists show it, the accounts configured, and what was measured
(quota, health, circuits, cooldowns); and what it knows of each account, for the status.
The runtime holds it and gives it what it reads (accounts, model view, HTTP client) as
callables, since those change under it (stored accounts, discovery).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from llm_agg.accounting import Accounting
from llm_agg.api.chat import ChatCall
from llm_agg.api.errors import GatewayError, InvalidRequest, RequestTooLarge
from llm_agg.limits.circuits import Parked
from llm_agg.limits.quota import Quota
from llm_agg.limits.windows import ACCOUNT
from llm_agg.memo import Memo
from llm_agg.providers.accounts import Account
from llm_agg.providers.base import Target
from llm_agg.providers.listing import ModelLister
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog
from llm_agg.routing.classify import classify, estimate_tokens
from llm_agg.routing.health import Health
from llm_agg.routing.rotation import conversation_of, order_accounts
from llm_agg.routing.select import Choice, Plan, Signals, lone, plan

log = logging.getLogger("llm_agg.router")

# Shared (the runtime hands every request the same one): read, never changed.
Accounts = Mapping[str, Sequence[Account]]

LONE_KEPT = 1024  # models named, with their one candidate (or none), remembered
TARGETS_KEPT = 4096  # targets made, kept for the next requests


@dataclass(frozen=True, slots=True)
class _Settled:
    """A named model's route when it is one target whatever the request holds: its one
    candidate (``lone``), served by one account (no rotation), of a provider with no size
    limit; only a field in ``refusing`` could make the provider refuse a body. It holds while
    the catalog view and the accounts are these same objects. A lone target's health does not
    change the route (ready, failing, cooling or refused, it is the one target: admission
    turns it down, saying why); a parked key does, by the re-check it may start."""

    view: Catalog
    accounts: Accounts
    target: Target
    refusing: frozenset[str]


class Router:
    def __init__(
        self,
        specs: dict[str, ProviderSpec],
        listers: dict[str, ModelLister],
        quota: Quota,
        health: Health,
        accounting: Accounting,
        clock: Callable[[], float],
        recheck_interval: float,
        *,
        view: Callable[[], Catalog],
        accounts: Callable[[], Accounts],
        refresh: Callable[[], Awaitable[None] | None],
        discover: Callable[[Accounts], None],
        client: Callable[[], httpx.AsyncClient],
        quiet: Callable[[], tuple[Catalog, Accounts] | None] | None = None,
    ) -> None:
        self.specs = specs
        self.listers = listers
        self.quota = quota
        self.health = health
        self.accounting = accounting
        self.clock = clock
        self.recheck_interval = recheck_interval
        self._view = view
        self._accounts = accounts
        self._refresh = refresh
        self._discover = discover
        self._client = client
        # The view and the accounts when nothing is due before routing (``Runtime.quiet``):
        # then a settled route is given with no refresh, accounts or discovery asked.
        self._quiet = quiet if quiet is not None else _never
        self._rechecking: asyncio.Task[None] | None = None
        # ``lone``'s answer by (model, provider) of the request: it reads nothing else of it,
        # and the rest (the catalog as discovered, the providers configured) is checked on
        # each use. Each request scanned the catalog for the model it named.
        self._lone: Memo[tuple[str, str | None], Choice | None] = Memo(LONE_KEPT)
        self._lone_of: tuple[Catalog, frozenset[str]] = (Catalog(), frozenset())
        self._made: Memo[tuple[int, str, int | None], Target] = Memo(TARGETS_KEPT)
        # ``_targets``' answer by (model, provider) of the request, while it is settled: the
        # request that names the same model again gets it from one lookup and a few checks in
        # place of ~20 small calls, each paid again on a vCPU come back cold after a stream
        # (issue 17).
        self._settled: Memo[tuple[str, str | None], _Settled] = Memo(LONE_KEPT)

    def signals(self, provider: str, model: str, accounts: Sequence[Account]) -> Signals:
        spec, headroom = self.specs[provider], self.quota.headroom
        rooms = [
            headroom(provider, spec.quota_holder(a.account_id, a.quota_group), model)
            for a in accounts
        ]
        return self.health.signals(provider, model, max(rooms) if rooms else 1.0)

    def plan(
        self,
        call: ChatCall,
        accounts: Accounts | None = None,
        *,
        only: Collection[str] | None = None,
    ) -> Plan:
        """The ordered provider/model candidates for ``call`` (pure but for what was measured);
        ``only``: see ``routing.select.plan``."""
        accounts = self._accounts() if accounts is None else accounts
        return plan(
            call,
            classify(call),
            self._view(),
            self.specs,
            accounts.keys(),
            lambda p, m: self.signals(p, m, accounts.get(p, [])),
            only=only,
        )

    def _choices(self, call: ChatCall, accounts: Accounts) -> list[Choice]:
        """The plan's choices, from the configured providers' models alone (the others are
        never chosen: 40 catalog models scored for 24 kept on 'auto' with five providers); on
        an error, the whole plan's, whose errors say what fits and which keys to set. A model
        named that one configured provider serves has nothing to rank: no plan (``_targets``
        asks ``_lone_choice`` first)."""
        try:
            return self.plan(call, accounts, only=accounts.keys()).choices
        except GatewayError:
            return self.plan(call, accounts).choices

    def _lone_choice(self, call: ChatCall, accounts: Accounts) -> Choice | None:
        """``lone``, remembered for the catalog and the providers it was worked out from (an
        unknown forced provider raises each time, as there)."""
        view = self._view()
        of_view, of_configured = self._lone_of
        if view is not of_view or accounts.keys() != of_configured:
            self._lone.clear()
            self._settled.clear()
            self._lone_of = (view, frozenset(accounts))
        request = call.request
        asked = (request.model, request.provider)
        try:
            return self._lone[asked]
        except KeyError:
            pass
        one = lone(call, view, self.specs, accounts.keys())
        return self._lone.keep(asked, one)  # bounded: clients name models freely

    async def route(self, call: ChatCall) -> list[Target]:
        """Every (provider, model, account) that may serve ``call``, in the order to try, after
        re-reading the stored accounts when they are stale (in a thread). The only way in: no
        handler can route from accounts it forgot to refresh. ``refresh`` gives the work to
        await, or None when the accounts are fresh (``Stored.refreshing``)."""
        settled = self.settled(call)
        if settled is not None:
            return settled
        pending = self._refresh()
        if pending is not None:
            await pending
        return self._targets(call)

    def settled(self, call: ChatCall) -> list[Target] | None:
        """``route``'s answer when it has nothing to await nor work out: the route remembered
        for what ``call`` asks (``_settle``), while nothing is due before routing
        (``Runtime.quiet``); None otherwise (await ``route``). A plain call: the chat endpoint
        asks it first, without ``route``'s coroutine to make and run on every request (issue
        17)."""
        quiet = self._quiet()
        return None if quiet is None else self._settled_route(call, *quiet)

    def _targets(self, call: ChatCall) -> list[Target]:
        """``route``'s order, from the accounts as last read: ready first, then those whose
        circuit is open, then those cooling down, where admission turns them down with their
        reset."""
        accounts = self._accounts()
        self._discover(accounts)
        self.quota.maybe_refresh()
        settled = self._settled_route(call, self._view(), accounts)
        if settled is not None:
            return settled
        request = call.request
        asked = (request.model, request.provider)
        one = self._lone_choice(call, accounts)
        choices = [one] if one is not None else self._choices(call, accounts)
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
            # One account (the usual case) has no order to work out.
            rotated = (
                mine if len(mine) < 2 else self._rotate(spec, choice.model, mine, conversation)
            )
            for account in rotated:
                target = self._target(spec, choice, account)
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
        targets = ready + failing + cooling + refused
        if one is not None and len(targets) == 1:
            self._settle(asked, accounts, targets[0])
        return targets

    def _settled_route(
        self, call: ChatCall, view: Catalog, accounts: Accounts
    ) -> list[Target] | None:
        """The route ``_settle`` remembered for what ``call`` asks, if it still holds for this
        catalog ``view`` and these ``accounts``; else None."""
        request = call.request
        settled = self._settled.get((request.model, request.provider))
        if (
            settled is not None
            and settled.accounts is accounts
            and settled.view is view
            and settled.refusing.isdisjoint(call.body)
            and self.specs.get(settled.target.spec.name) is settled.target.spec
            and not self.quota.circuits.any_parked()  # else ``_recheck_parked`` may have work
        ):
            return [settled.target]
        return None

    def _settle(self, asked: tuple[str, str | None], accounts: Accounts, target: Target) -> None:
        """Remember ``target`` as the route of ``asked`` when nothing of a request could
        change it while the catalog and the accounts stay as they are: one account (no
        rotation) of a provider that limits no request's size."""
        spec = target.spec
        if spec.max_request_tokens is None and len(accounts[spec.name]) == 1:
            refusing = frozenset(r.field for r in spec.refusals)
            self._settled.keep(asked, _Settled(self._view(), accounts, target, refusing))

    def _target(self, spec: ProviderSpec, choice: Choice, account: Account) -> Target:
        """The ``Target`` of this choice and account, made once (they are immutable): ``auto``
        makes one for every model of every configured provider, each request."""
        key = (id(account), choice.model, choice.max_output)
        made = self._made.get(key)
        if made is not None and made.account is account and made.spec is spec:
            return made
        target = Target(spec, choice.model, account, choice.max_output)
        return self._made.keep(key, target)  # it holds the account: its id stays its own

    def _recheck_parked(self, accounts: Accounts) -> None:
        """Now and then, ask the provider again about a key it refused: one that works again
        comes back into rotation without anyone running a check."""
        if self._rechecking is not None or self.recheck_interval <= 0:
            return
        if not self.quota.circuits.any_parked():
            return  # every request asks: no list to build when no key is parked
        now = self.clock()
        due = [
            (p, a)
            for p in self.quota.circuits.all_parked()
            if now - p.at >= self.recheck_interval
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
        response = await self._client().get(
            ask.url, headers={**ask.headers, **account.headers}, timeout=spec.timeout
        )
        return response.status_code < 300 or response.status_code == 429

    def status_of(self, provider: str, model: str, accounts: Sequence[Account]) -> str:
        """``ready``, or when the soonest of its accounts is free again and why."""
        holders = {self.specs[provider].quota_holder(a.account_id, a.quota_group) for a in accounts}
        cooling = [self.quota.cooldowns.get(provider, h, model) for h in holders]
        if not accounts or any(c is None for c in cooling):
            return "ready"
        soonest = min((c for c in cooling if c is not None), key=lambda c: c.until)
        moment = datetime.fromtimestamp(soonest.until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"cooling down until {moment} ({soonest.reason})"

    def state(
        self, provider: str, account: str, group: str | None = None
    ) -> tuple[float | None, dict[str, object]]:
        """``known_state`` with what is left of each quota window (blocking: reads the store)."""
        until, known = self.known_state(provider, account, group)
        models = [m.id for m in self._view().for_provider(provider)]
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
            (a.api_key for a in self._accounts().get(provider, []) if a.account_id == account),
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
        self, spec: ProviderSpec, model: str, accounts: Sequence[Account], conversation: str | None
    ) -> Sequence[Account]:
        provider = spec.name

        def holder(a: Account) -> str:
            return spec.quota_holder(a.account_id, a.quota_group)

        return order_accounts(
            accounts,
            lambda a: a.account_id,
            lambda a: self.quota.headroom(provider, holder(a), model),
            lambda a: self.quota.last_used.get((provider, holder(a)), 0.0),
            conversation,
        )

    def close(self) -> None:
        if self._rechecking is not None:
            self._rechecking.cancel()


def _never() -> None:
    """A ``quiet`` that never is: the router goes the whole way on every request."""
    return None
