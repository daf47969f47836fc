"""Quota of each provider account: admission before a call, bookkeeping after it.

Limits per account and model (or per account, for a provider whose quota spans its models)
come from the catalog and are replaced by what the provider announces in its headers (kept in
the store, so every process learns them). Counting uses fixed windows in the store's counters:

- admission is ONE conditional increment, of the request window with the shortest span (the
  minute, usually): it lets exactly the limit through however many processes race for it. A
  longer window (the day) is charged the same way only when it is nearly spent, or when this
  process has not seen its count lately; otherwise it is counted after the call.
- tokens are only known afterwards: they are counted after the call, and a request is refused
  beforehand only when the tokens known to be left cannot hold its prompt.
- what a response's headers say is left is believed too: at zero, the account (or model) is
  blocked until the reset they give; above zero, this process sends no more than that until then.

A window found spent blocks the account until it ends (a ``Cooldown``, shared through the
store), so other processes skip it without a write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from llm_agg.background import Background
from llm_agg.limits.circuits import Circuits
from llm_agg.limits.cooldown import Cooldown, Cooldowns
from llm_agg.limits.headers import Announced, announced
from llm_agg.limits.windows import (
    ACCOUNT,
    WINDOW_SECONDS,
    WINDOW_WORDS,
    Limit,
    bucket,
    counter_key,
    counter_prefix,
    parse_name,
)
from llm_agg.memo import Memo
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import Catalog
from llm_agg.store.base import CounterStore, ExpiringStore

LEARNED = "learn|"
LEARNED_FOR = 7 * 86400.0  # how long an announced limit is believed without being repeated
STALE_AFTER = 60.0  # seconds after which this process's view of a long window is re-read


@dataclass(frozen=True, slots=True)
class Admission:
    ok: bool
    charged: tuple[tuple[str, float], ...] = ()  # counters incremented before the call
    until: float | None = None  # when refused: the moment it may be tried again
    reason: str = ""


ADMITTED = Admission(True)


@dataclass(slots=True)
class _Snapshot:
    """What the provider's headers last said is left in one window."""

    remaining: int
    reset_at: float
    sent: int = 0


# The windows a snapshot may be of, in the order admission checks them: (kind, name, window).
_CHECKED = tuple(
    (kind, f"{kind}p{window}", window) for kind in ("r", "t") for window in WINDOW_SECONDS
)
_REQUESTS = tuple(name for kind, name, _ in _CHECKED if kind == "r")

_Gauge = tuple[str, float, int]  # a request limit's counter key less its index, window, value
MAX_GAUGED = 4096  # (provider, account, model) whose gauges are kept


class Quota:
    def __init__(
        self,
        catalog: Catalog,
        specs: Mapping[str, ProviderSpec],
        counters: CounterStore,
        expiring: ExpiringStore,
        background: Background,
        clock: Callable[[], float] = time.time,
        refresh_every: float = 1.0,
    ) -> None:
        self.specs = specs
        self.refresh_every = refresh_every
        self.refreshed = float("-inf")  # time.monotonic() of the last refresh started
        self.counters = counters
        self.expiring = expiring
        self.background = background
        self.clock = clock
        self.cooldowns = Cooldowns(expiring, background, clock)
        self.circuits = Circuits(expiring, background, clock)
        self._catalog: dict[tuple[str, str], Mapping[str, int]] = {}
        self._account_limits: Mapping[str, Mapping[str, int]] = {}
        self._learned: dict[tuple[str, str, str], dict[str, int]] = {}
        self._limits: dict[tuple[str, str, str], tuple[Limit, ...]] = {}
        self._gauged: Memo[tuple[str, str, str], tuple[tuple[Limit, ...], tuple[_Gauge, ...]]] = (
            Memo(MAX_GAUGED)
        )
        self._known: dict[str, tuple[int, float]] = {}  # counter key → (value, seen at)
        self._counted: set[tuple[str, str]] = set()  # accounts with a count in _known
        # (provider, account, scope) → window name → snapshot: admission looks up the two
        # scopes of a model, and only the windows of one that announced any (16 -> 2 lookups).
        self._snapshots: dict[tuple[str, str, str], dict[str, _Snapshot]] = {}
        self.last_used: dict[tuple[str, str], float] = {}
        self.use_catalog(catalog)

    def use_catalog(self, catalog: Catalog) -> None:
        self._catalog = {(m.provider, m.id): m.limits for m in catalog.models}
        self._account_limits = catalog.account_limits
        self._limits.clear()

    def scope(self, provider: str, model: str) -> str:
        spec = self.specs.get(provider)
        return ACCOUNT if spec is not None and spec.limits_per_account else model

    def limits(self, provider: str, account: str, model: str) -> tuple[Limit, ...]:
        """The limits in force: the catalog's, replaced by those announced."""
        cached = self._limits.get((provider, account, model))
        if cached is not None:
            return cached
        named: dict[tuple[str, str], int] = {}
        for scope, table in (
            (model, self._catalog.get((provider, model), {})),
            (ACCOUNT, self._account_limits.get(provider, {})),
        ):
            merged = {**table, **self._learned.get((provider, account, scope), {})}
            for name, value in merged.items():
                named[(scope, name)] = value
        limits = tuple(
            Limit(*parse_name(name), value, scope) for (scope, name), value in named.items()
        )
        self._limits[(provider, account, model)] = limits
        return limits

    # --- admission ----------------------------------------------------------------------

    def precheck(
        self,
        provider: str,
        account: str,
        model: str,
        tokens: int,
        limits: tuple[Limit, ...] | None = None,
    ) -> Admission:
        """What can be refused without touching the store (cooldowns, known spent windows);
        ``limits``: ``self.limits(provider, account, model)``, when the caller has them."""
        now = self.clock()
        cool = self.cooldowns.get(provider, account, model)
        if cool is not None:
            return Admission(False, until=cool.until, reason=cool.reason)
        for scope in (model, ACCOUNT) if self._snapshots else ():
            snapshots = self._snapshots.get((provider, account, scope))
            if not snapshots:
                continue
            for kind, name, window in _CHECKED:
                snap = snapshots.get(name)
                if snap is None or snap.reset_at <= now:
                    continue
                need = 1 if kind == "r" else tokens
                if snap.remaining - snap.sent < need:
                    word = "requests" if kind == "r" else "tokens"
                    reason = f"{provider} said too few {word} are left this {WINDOW_WORDS[window]}"
                    return Admission(False, until=snap.reset_at, reason=reason)
        if limits is None:
            limits = self.limits(provider, account, model)
        for limit in limits:
            if limit.kind != "t":
                continue
            index, end = bucket(limit.window, now)
            known = self._known.get(counter_key(provider, account, limit, index))
            if known is not None and known[0] + tokens > limit.value:
                return Admission(False, until=end, reason=f"{limit.describe()} used up")
        return ADMITTED

    def charge(
        self, provider: str, account: str, model: str, counters: CounterStore | None = None
    ) -> Admission:
        """The conditional increments of admission, on ``counters`` (the quota's by default;
        blocking: run it through ``store.nowait.counting``)."""
        counters = self.counters if counters is None else counters
        requests = sorted(
            (lim for lim in self.limits(provider, account, model) if lim.kind == "r"),
            key=lambda lim: (WINDOW_SECONDS[lim.window], lim.value),
        )
        if not requests:
            return ADMITTED
        now = self.clock()
        gate, rest = requests[0], requests[1:]
        chosen = [gate, *(lim for lim in rest if self._near(provider, account, lim, gate, now))]
        charged: list[tuple[str, float]] = []
        # Longest window first: a refusal there leaves the busier short window untouched.
        for limit in reversed(chosen):
            index, end = bucket(limit.window, now)
            key = counter_key(provider, account, limit, index)
            value = counters.increment(key, 1, end, limit.value)
            if value is None:
                for done, expires in charged:
                    counters.increment(done, -1, expires)
                self._known[key] = (limit.value, now)
                self._counted.add((provider, account))
                self._block(provider, account, limit, end)
                return Admission(False, until=end, reason=f"{limit.describe()} used up")
            self._known[key] = (value, now)
            charged.append((key, end))
        self._counted.add((provider, account))
        return Admission(True, tuple(charged))

    def _near(self, provider: str, account: str, limit: Limit, gate: Limit, now: float) -> bool:
        """Whether a longer window must be charged before the call: it is nearly spent (the
        gate window could fill it before this process hears of it), or its count is unknown."""
        index, _ = bucket(limit.window, now)
        known = self._known.get(counter_key(provider, account, limit, index))
        if known is None or now - known[1] > STALE_AFTER:
            return True
        return known[0] + gate.value >= limit.value

    def started(self, provider: str, account: str, model: str) -> None:
        """A call is going out: count it against what the headers said is left."""
        now = self.clock()
        self.last_used[(provider, account)] = now
        if not self._snapshots:
            return  # no provider announced what is left: nothing to count it against
        for scope in (model, ACCOUNT):
            snapshots = self._snapshots.get((provider, account, scope))
            if not snapshots:
                continue
            for name in _REQUESTS:
                snap = snapshots.get(name)
                if snap is not None and snap.reset_at > now:
                    snap.sent += 1

    # --- after the call -----------------------------------------------------------------

    def count(
        self,
        provider: str,
        account: str,
        model: str,
        charged: tuple[str, ...],
        tokens: int,
        counters: CounterStore | None = None,
    ) -> None:
        """Count a finished call in the windows not charged before it, on ``counters`` (the
        quota's by default; blocking)."""
        counters = self.counters if counters is None else counters
        now = self.clock()
        for limit in self.limits(provider, account, model):
            index, end = bucket(limit.window, now)
            key = counter_key(provider, account, limit, index)
            amount = 1 if limit.kind == "r" else tokens
            if key in charged or amount <= 0:
                continue
            value = counters.increment(key, amount, end)
            if value is None:
                continue
            self._known[key] = (value, now)
            self._counted.add((provider, account))
            if value >= limit.value:
                self._block(provider, account, limit, end)

    def _block(self, provider: str, account: str, limit: Limit, until: float) -> None:
        reason = f"{limit.describe()} used up"
        self.cooldowns.add(Cooldown(provider, account, limit.scope, until, reason))

    def heard(self, provider: str, account: str, model: str, headers: Mapping[str, str]) -> None:
        """Learn from a response's rate-limit headers (no I/O here; writes go in background)."""
        spec = self.specs.get(provider)
        if spec is None or spec.rate_limit_headers == "none":
            return
        now = self.clock()
        items = announced(spec.rate_limit_headers, headers, now)
        if not items:
            return  # nothing announced: nothing to note or learn (before the first byte)
        scope = self.scope(provider, model)
        learned = dict(self._learned.get((provider, account, scope), {}))
        # A 429's retry-after says when to come back; a window's reset may be later (Groq's
        # token bucket refills before its "full" reset), so it is not a cooldown then.
        told = "retry-after" in headers
        for item in items:
            if not told:
                self._note(provider, account, scope, item, now)
            if item.kind in ("r", "t") and item.limit:
                learned[f"{item.kind}p{item.window}"] = item.limit
        if learned != self._learned.get((provider, account, scope), {}):
            self._learned[(provider, account, scope)] = learned
            self._limits.clear()
            key = f"{LEARNED}{provider}|{account}|{scope}"
            self.background.spawn(self.expiring.put, key, orjson.dumps(learned), now + LEARNED_FOR)

    def _note(self, provider: str, account: str, scope: str, item: Announced, now: float) -> None:
        if item.remaining is None or item.reset is None:
            return
        reset_at = now + item.reset
        if item.remaining <= 0:
            word = {"r": "requests", "t": "tokens"}.get(item.kind, "tokens")
            reason = f"{provider} announced no {word} left this {WINDOW_WORDS[item.window]}"
            self.cooldowns.add(Cooldown(provider, account, scope, reset_at, reason))
        elif item.kind in ("r", "t"):
            snapshots = self._snapshots.setdefault((provider, account, scope), {})
            snapshots[f"{item.kind}p{item.window}"] = _Snapshot(item.remaining, reset_at)

    def cool(self, provider: str, account: str, model: str, seconds: float, reason: str) -> None:
        scope = self.scope(provider, model)
        until = self.clock() + max(0.0, seconds)
        self.cooldowns.add(Cooldown(provider, account, scope, until, reason))

    def refund(self, charged: tuple[tuple[str, float], ...]) -> None:
        """Give back what admission charged for a call that never reached the provider
        (blocking)."""
        for key, expires in charged:
            self.counters.increment(key, -1, expires)
            known = self._known.get(key)
            if known is not None:
                self._known[key] = (max(0, known[0] - 1), known[1])

    # --- views --------------------------------------------------------------------------

    def headroom(self, provider: str, account: str, model: str) -> float:
        """The share left of the most used request window (1.0 when nothing is known)."""
        if (provider, account) not in self._counted:
            return 1.0
        now = self.clock()
        share = 1.0
        for prefix, length, value in self._gauges(provider, account, model):
            known = self._known.get(prefix + str(int(now // length)))  # as counter_key
            if known is not None:
                share = min(share, max(0.0, 1 - known[0] / value))
        return share

    def _gauges(self, provider: str, account: str, model: str) -> tuple[_Gauge, ...]:
        """The request limits in force, as headroom reads them: each one's counter key
        without its window index, its window's length and its value. Routing ``auto`` asks
        the headroom of every model it ranks: worked out again per model and request, the
        keys cost a third of the plan. Kept with the ``limits`` tuple they come from: a new
        one (learned limits, a new catalog) makes them again."""
        limits = self.limits(provider, account, model)
        kept = self._gauged.get((provider, account, model))
        if kept is not None and kept[0] is limits:
            return kept[1]
        gauges = tuple(
            (counter_prefix(provider, account, limit), WINDOW_SECONDS[limit.window], limit.value)
            for limit in limits
            if limit.kind == "r"
        )
        return self._gauged.keep((provider, account, model), (limits, gauges))[1]

    def report(self, provider: str, account: str, models: list[str]) -> list[dict[str, object]]:
        """What is left of each window in force for this account (blocking: reads the store):
        its account-wide windows, and the windows of the models it has used in them."""
        now = self.clock()
        seen: set[str] = set()
        rows: list[dict[str, object]] = []
        for model in models:
            for limit in self.limits(provider, account, model):
                index, end = bucket(limit.window, now)
                key = counter_key(provider, account, limit, index)
                if key in seen:
                    continue
                seen.add(key)
                used = self.counters.get(key)
                if limit.scope != ACCOUNT and used == 0:
                    continue
                rows.append(
                    {
                        "scope": limit.scope,
                        "name": limit.name,
                        "limit": limit.value,
                        "used": used,
                        "left": max(0, limit.value - used),
                        "resets_at": end,
                    }
                )
        return rows

    def refresh(self) -> None:
        """Read the cooldowns and learned limits other processes stored (blocking)."""
        self.cooldowns.refresh()
        self.circuits.refresh()
        learned: dict[tuple[str, str, str], dict[str, int]] = {}
        for key, value in self.expiring.scan(LEARNED).items():
            try:
                provider, account, scope = key[len(LEARNED) :].split("|", 2)
                table = orjson.loads(value)
            except ValueError:
                continue
            if isinstance(table, dict):
                learned[(provider, account, scope)] = {
                    str(k): int(v) for k, v in table.items() if isinstance(v, int) and v > 0
                }
        if learned and learned != self._learned:
            self._learned = {**self._learned, **learned}
            self._limits.clear()

    def refresh_due(self, now: float) -> bool:
        """Whether the last refresh started ``refresh_every`` or more before ``now``."""
        return now - self.refreshed >= self.refresh_every

    def maybe_refresh(self) -> None:
        """Start a refresh in the background if the last one is older than ``refresh_every``."""
        started = time.monotonic()
        if self.refresh_due(started):
            self.refreshed = started
            self._forget()
            self.background.spawn(self.refresh)

    def _forget(self) -> None:
        """Drop what is no longer worth knowing: counts not heard of lately (their windows
        have moved on, or are re-read before use), snapshots past their reset."""
        now = self.clock()
        # list() copies in one step: admissions in worker threads may add to these meanwhile.
        self._known = {k: v for k, v in list(self._known.items()) if now - v[1] <= STALE_AFTER}
        live = {
            where: {name: snap for name, snap in list(mine.items()) if snap.reset_at > now}
            for where, mine in list(self._snapshots.items())
        }
        self._snapshots = {where: mine for where, mine in live.items() if mine}
