"""What the gateway learns from each attempt, and whether an attempt may go out at all.

The dispatcher asks ``admit`` before each call (at most one conditional store write, in a
thread), tells ``heard`` the response headers as soon as they arrive, and ``settle`` one
``Outcome`` once the attempt is over: quota windows, cooldowns and parked quotas, circuits,
refused keys, moving averages of latency and success, and the usage record all follow from
those three calls. Writes happen after the answer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from llm_agg import observability
from llm_agg.api.errors import RateLimited
from llm_agg.limits.circuits import Parked
from llm_agg.limits.headers import retry_after
from llm_agg.limits.keys import charge_tokens
from llm_agg.limits.quota import ADMITTED, Admission, Quota
from llm_agg.limits.spent import with_parking
from llm_agg.limits.windows import ACCOUNT
from llm_agg.providers.base import Target, Usage
from llm_agg.providers.failures import FailureKind, UpstreamFailure
from llm_agg.providers.scrub import account_secrets, scrub
from llm_agg.routing.health import Health
from llm_agg.store.base import CounterStore
from llm_agg.store.nowait import counting
from llm_agg.usage import UsageRecorder

if TYPE_CHECKING:
    from llm_agg.stored import Stored

log = logging.getLogger("llm_agg.accounting")

DEFAULT_COOLDOWN = 60.0  # when a 429 says nothing about its reset


@dataclass(frozen=True, slots=True)
class Blocked:
    """A target that could not be tried: out of quota or cooling down until ``until``, or
    (``refused``) parked because the provider refused its key or it has no credits."""

    provider: str
    model: str
    account: str
    until: float
    reason: str
    refused: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt, as accounting learns it: answered (``failure`` None) or failed."""

    target: Target
    attempt: int  # which attempt of its request (1 = the first try)
    gateway_key: str | None
    prompt_tokens: int  # the estimate, counted when the provider reports no usage
    latency_ms: float
    admission: Admission = ADMITTED
    failure: UpstreamFailure | None = None
    usage: Usage | None = None
    first_byte_ms: float | None = None  # streams: when the first event reached the client
    headers: Mapping[str, str] = field(default_factory=dict)


def _moment(at: float, now: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    same_day = moment.date() == datetime.fromtimestamp(now, UTC).date()
    return moment.strftime("%H:%M:%SZ" if same_day else "%Y-%m-%dT%H:%M:%SZ")


def out_of_quota(blocked: Sequence[Blocked], now: float, headers: dict[str, str]) -> RateLimited:
    """429 naming each exhausted provider and when it is free again; Retry-After is the
    soonest of those moments."""
    soonest: dict[str, Blocked] = {}
    for b in blocked:
        if b.provider not in soonest or b.until < soonest[b.provider].until:
            soonest[b.provider] = b
    parts = [
        f"{b.provider} until {_moment(b.until, now)} ({b.reason})"
        for b in sorted(soonest.values(), key=lambda b: b.until)
    ]
    wait = max(1, math.ceil(min(b.until for b in blocked) - now))
    return RateLimited(
        f"Every candidate is rate-limited or out of quota: {'; '.join(parts)}. Retry in {wait}s.",
        headers={**headers, "retry-after": str(wait)},
    )


def _said(failure: UpstreamFailure, target: Target) -> str:
    """What a status shows of a failure: kept, so never with the key (providers echo it)."""
    return scrub(f"{failure.describe()}: {failure.message}", account_secrets(target.account))[:200]


class Accounting:
    def __init__(
        self,
        quota: Quota,
        health: Health,
        usage: UsageRecorder,
        clock: Callable[[], float],
        stored: Stored | None = None,
    ) -> None:
        self.quota = quota
        self.health = health
        self.usage = usage
        self.clock = clock
        self.stored = stored
        self.circuits = quota.circuits

    def _note_use(self, target: Target, error: str | None) -> None:
        stored = self.stored
        if stored is not None and stored.use_to_note(target.account, error):
            self.quota.background.spawn(stored.note_use, target.account, self.clock(), error)

    def blocked(self, target: Target) -> Blocked | None:
        """Why ``target`` may not be tried now: its key is parked, or it is cooling down."""
        provider, account = target.spec.name, target.account.account_id
        parked = self.circuits.parked(provider, account, target.account.api_key)
        if parked is not None:
            return Blocked(provider, target.model, account, parked.at, _why(parked), refused=True)
        cooldowns = self.quota.cooldowns
        if not cooldowns.any():
            return None  # the usual case, for every candidate: its quota holder is not needed
        cool = cooldowns.get(provider, target.quota_holder, target.model)
        if cool is None:
            return None
        return Blocked(provider, target.model, account, cool.until, cool.reason)

    async def admit(self, target: Target, prompt_tokens: int) -> Admission:
        mine, model = target.account, target.model
        provider = target.spec.name
        # Quota counts per holder (the account, or the project a provider counts by).
        account = target.quota_holder
        quota = self.quota
        quota.maybe_refresh()
        # Of ``blocked``'s reasons only a parked key turns it down here (a cooldown is the
        # precheck's): asked of the circuits alone, a call and a lookup less each request, and
        # only when a key is parked: ``any_parked`` is what the router asked too, so it runs
        # warm, where ``parked`` would be one more function paid cold (issue 17).
        circuits = self.circuits
        if circuits.any_parked():
            parked = circuits.parked(provider, mine.account_id, mine.api_key)
            if parked is not None:
                return Admission(False, until=None, reason=_why(parked))
        limits = quota.limits(provider, account, model)  # none, in a catalog without them
        admission = quota.precheck(provider, account, model, prompt_tokens, limits)
        if admission.ok and limits and any(lim.kind == "r" for lim in limits):
            try:
                admission = await counting(
                    quota.counters,
                    lambda counters: quota.charge(provider, account, model, counters),
                )
            except Exception as exc:
                # A store that cannot count must not stop the traffic: the provider's own
                # limits (and its 429s) still hold, and a cooldown follows the first 429.
                log.error("quota store failed, admitting uncounted: %s", type(exc).__name__)
        if admission.ok:
            quota.started(provider, account, model)
            circuits.probing(provider, mine.account_id)
        else:
            log.info(
                "skipped: provider=%s model=%s account=%s reason=%s",
                provider,
                model,
                account,
                admission.reason,
            )
        return admission

    def heard(self, target: Target, headers: Mapping[str, str]) -> None:
        """Learn limits from response headers (any status)."""
        if headers:
            self.quota.heard(target.spec.name, target.quota_holder, target.model, headers)

    def settle(self, outcome: Outcome) -> None:
        """Learn from one finished attempt."""
        if outcome.failure is None:
            self._served(outcome)
        else:
            self._failed(outcome, outcome.failure)

    def _failed(self, outcome: Outcome, failure: UpstreamFailure) -> None:
        target = outcome.target
        provider, account, model = target.spec.name, target.account.account_id, target.model
        kind = failure.kind
        if kind is FailureKind.RATE_LIMITED:
            self._cool(target, failure, outcome.headers)
        elif kind is FailureKind.ACCOUNT and failure.status is not None:
            # The provider refused the key (a request that could not be built has no status:
            # it never left, and says nothing of the key).
            reason = "no_credits" if failure.no_credits else "key_refused"
            key = target.account.api_key
            self.circuits.park(provider, account, key, reason, _said(failure, target))
        elif kind in (FailureKind.SERVER, FailureKind.TIMEOUT, FailureKind.CONNECTION):
            self.circuits.failed(provider, account, _said(failure, target))
        if not failure.reached and outcome.admission.charged:
            # Never reached the provider: its quota was not used.
            self.quota.background.spawn(self.quota.refund, outcome.admission.charged)
        # Too large for this provider says nothing of the model's health, nor the account's.
        if kind is not FailureKind.TOO_LARGE:
            self.health.observe(provider, model, False, None, kind.value)
        if kind not in (FailureKind.CLIENT, FailureKind.TOO_LARGE):
            self._note_use(target, failure.describe())
        self.usage.record(
            provider=provider,
            model=model,
            account_id=account,
            gateway_key=outcome.gateway_key,
            ok=False,
            latency_ms=outcome.latency_ms,
            failure=kind.value,
            attempt=outcome.attempt,
        )
        observability.record_attempt(provider, False, outcome.latency_ms)

    def _cool(self, target: Target, failure: UpstreamFailure, headers: Mapping[str, str]) -> None:
        """Park what a 429 spent: the quota its body names (Gemini), or that its headers say
        resets hours from now (OpenRouter's free-models-per-day), until its reset; else the
        account, or its model, until the wait its headers announce."""
        now = self.clock()
        provider, model = target.spec.name, target.model
        whole = self.quota.scope(provider, model) == ACCOUNT
        park = with_parking(failure, headers, now, whole).parking
        if park is not None:
            scope = ACCOUNT if park.whole_account else model
            seconds, reason = park.until(now) - now, f"{provider} {park.reason}"
        else:
            wait = retry_after(headers, now)
            scope, reason = model, f"{provider} answered {failure.status or 429}"
            seconds = DEFAULT_COOLDOWN if wait is None else wait
        self.quota.cool(provider, target.quota_holder, scope, seconds, reason)

    def _count(
        self,
        counters: CounterStore,
        provider: str,
        account: str,
        model: str,
        charged: tuple[str, ...],
        tokens: int,
        gateway_key: str | None,
        now: float,
    ) -> None:
        """After an answer, in one piece of counter work: the provider's token windows, and the
        gateway key's tokens of the day (its ``tokens_per_day`` is checked before each request)."""
        self.quota.count(provider, account, model, charged, tokens, counters)
        if gateway_key:
            charge_tokens(counters, gateway_key, tokens, now)

    def _served(self, outcome: Outcome) -> None:
        target, usage, gateway_key = outcome.target, outcome.usage, outcome.gateway_key
        provider, account, model = target.spec.name, target.account.account_id, target.model
        holder = target.quota_holder
        self.circuits.succeeded(provider, account)
        self.health.observe(provider, model, True, outcome.first_byte_ms or outcome.latency_ms)
        tokens = usage.total_tokens if usage is not None else outcome.prompt_tokens
        charged = tuple(key for key, _ in outcome.admission.charged)
        keyed = gateway_key not in (None, "-")
        if keyed or self.quota.limits(provider, holder, model):
            # No thread hop for an answer nothing counts: no window, no gateway key.
            now = self.clock()
            self.quota.background.spawn_counting(
                self.quota.counters,
                lambda store: self._count(
                    store, provider, holder, model, charged, tokens, gateway_key, now
                ),
            )
        self._note_use(target, None)
        self.usage.record(
            provider=provider,
            model=model,
            account_id=account,
            gateway_key=gateway_key,
            ok=True,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=outcome.latency_ms,
            attempt=outcome.attempt,
        )
        observability.record_attempt(provider, True, outcome.latency_ms, usage)


def _why(parked: Parked) -> str:
    """What a parked key's ``Blocked`` and admission say of it."""
    reason = "key refused" if parked.reason == "key_refused" else "no credits"
    return f"{reason}: {parked.message}" if parked.message else reason
