"""What the admin API shows: pure functions from records and rows to JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from llm_agg.providers.spec import ProviderSpec
from llm_agg.store import histogram
from llm_agg.store.base import GatewayKeyRecord, UsageRow


@dataclass(frozen=True, slots=True)
class AccountState:
    """Everything known about one account, from env or store, secret left out."""

    provider: str
    account_id: str
    source: str  # "env" or "store"
    enabled: bool
    key: str | None  # masked
    header_names: tuple[str, ...] = ()
    created_at: float | None = None
    last_used_at: float | None = None
    last_error: str | None = None
    problem: str | None = None  # why the account cannot be used, if it cannot
    quota_group: str | None = None  # the project or organisation it says it belongs to


def credential(state: AccountState) -> dict[str, object]:
    return {
        "object": "credential",
        "provider": state.provider,
        "account_id": state.account_id,
        "source": state.source,
        "enabled": state.enabled,
        "key": state.key,
        "additional_headers": list(state.header_names),  # names only: values may be secret
        "created_at": state.created_at,
        "last_used_at": state.last_used_at,
        "last_error": state.last_error,
        "problem": state.problem,
        "quota_group": state.quota_group,
    }


def gateway_key(record: GatewayKeyRecord, now: float) -> dict[str, object]:
    return {
        "object": "gateway_key",
        "id": record.key_id,
        "name": record.name,
        "prefix": record.prefix + "…",
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "expired": record.expires_at is not None and record.expires_at <= now,
        "requests_per_minute": record.requests_per_minute,
        "tokens_per_day": record.tokens_per_day,
    }


# What an account's state says, worst first: the first that holds is shown.
STATES = (
    "disabled",  # switched off by the admin
    "unreadable",  # its stored secret cannot be opened
    "key_refused",  # the provider refused its key: out of rotation until a check
    "no_credits",  # the provider wants payment (OpenRouter's 402): the same
    "quota_spent",  # a daily (or longer) quota spent: until its reset
    "failing",  # its circuit is open: tried only when nothing else is left, until
    "cooling_down",  # rate-limited for a short while, until
    "healthy",
)
QUOTA_SPENT_AFTER = 600.0  # a cooldown longer than this from now is a spent quota


def account_state(
    enabled: bool,
    problem: str | None,
    router: Mapping[str, object],
    cooling_until: float | None,
    now: float,
) -> tuple[str, float | None]:
    """The account's state (one of ``STATES``) and until when it holds, if known."""
    parked = router.get("parked")
    if not enabled:
        return "disabled", None
    if problem is not None:
        return "unreadable", None
    if isinstance(parked, Mapping):
        return str(parked.get("reason") or "key_refused"), None
    open_until = router.get("open_until")
    spent = cooling_until is not None and (
        cooling_until - now > QUOTA_SPENT_AFTER or "quota" in _whole_reasons(router)
    )
    if spent:
        return "quota_spent", cooling_until
    if isinstance(open_until, int | float):
        return "failing", float(open_until)
    if cooling_until is not None:
        return "cooling_down", cooling_until
    return "healthy", None


def _whole_reasons(router: Mapping[str, object]) -> str:
    listed = router.get("cooling_down")
    if not isinstance(listed, list):
        return ""
    return " ".join(str(c.get("reason", "")) for c in listed if c.get("scope") == "*")


def providers(
    specs: Mapping[str, ProviderSpec],
    supported: Mapping[str, bool],
    accounts: Iterable[AccountState],
    cooling_until: Mapping[tuple[str, str], float],
    requests_today: Mapping[tuple[str, str], int],
    router: Mapping[tuple[str, str], Mapping[str, object]] | None = None,
    now: float = 0.0,
) -> list[dict[str, object]]:
    """``router`` adds what the router knows of each account: its cooldowns, of the whole
    account or of one model, what is left of each quota window, its circuit and last error,
    and whether its key is parked; ``state`` sums it up (see ``STATES``)."""
    by_provider: dict[str, list[AccountState]] = {}
    for one in accounts:
        by_provider.setdefault(one.provider, []).append(one)
    out = []
    for name in sorted(specs):
        rows = []
        for a in by_provider.get(name, []):
            key = (a.provider, a.account_id)
            until = cooling_until.get(key)
            known = (router or {}).get(key, {})
            state, state_until = account_state(a.enabled, a.problem, known, until, now)
            rows.append(
                {
                    "account_id": a.account_id,
                    "source": a.source,
                    "enabled": a.enabled,
                    "healthy": supported.get(name, False) and state == "healthy",
                    "state": state,
                    "state_until": state_until,
                    "cooling_down_until": until,
                    "last_used_at": a.last_used_at,
                    "requests_today": requests_today.get(key, 0),
                    **known,
                    # The router's own last error is the freshest; the store's (stored
                    # accounts only) is the fallback; an unreadable secret says so.
                    "last_error": known.get("last_error") or a.last_error or a.problem,
                }
            )
        out.append(
            {
                "provider": name,
                "supported": supported.get(name, False),
                "configured": any(a["enabled"] for a in rows),
                "setup": specs[name].setup_hint,  # what configures it
                "quota_scope": specs[name].quota_scope,  # key, account or project
                "accounts": rows,
            }
        )
    return out


class _Sum:
    def __init__(self) -> None:
        self.requests = self.errors = self.prompt_tokens = self.completion_tokens = 0
        self.failovers = 0
        self.latency: dict[str, int] = {}
        self.errors_by_kind: dict[str, int] = {}

    def add(self, row: UsageRow) -> None:
        self.requests += row.requests
        self.errors += row.errors
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        self.failovers += row.failovers
        histogram.merge(self.latency, row.latency_ms)
        histogram.merge(self.errors_by_kind, row.errors_by_kind)

    def to_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            # The share of attempts answered (None with none): what the user asks first.
            "success_rate": round(1 - self.errors / self.requests, 4) if self.requests else None,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_p50_ms": histogram.percentile(self.latency, 0.5),
            "latency_p95_ms": histogram.percentile(self.latency, 0.95),
            "errors_by_kind": dict(sorted(self.errors_by_kind.items())),
            "failovers": self.failovers,
        }


GROUPS: dict[str, Callable[[UsageRow], str]] = {
    "day": lambda r: r.day,
    "provider": lambda r: r.provider,
    "model": lambda r: f"{r.provider}/{r.model}",
    "account": lambda r: f"{r.provider}/{r.account_id}",
    "gateway_key": lambda r: r.gateway_key,
}


def usage(rows: list[UsageRow]) -> dict[str, object]:
    """Every row with its percentiles, kinds of errors and failovers, the total, sums by day,
    provider, model, account and gateway key, and ``series``: the sums of each provider, model,
    account and key by day."""
    total = _Sum()
    groups: dict[str, dict[str, _Sum]] = {name: {} for name in GROUPS}
    series: dict[str, dict[str, dict[str, _Sum]]] = {name: {} for name in GROUPS if name != "day"}
    data = []
    for row in rows:
        total.add(row)
        for name, key_of in GROUPS.items():
            groups[name].setdefault(key_of(row), _Sum()).add(row)
            if name in series:
                days = series[name].setdefault(key_of(row), {})
                days.setdefault(row.day, _Sum()).add(row)
        one = _Sum()
        one.add(row)
        data.append(
            {
                "day": row.day,
                "provider": row.provider,
                "model": row.model,
                "account_id": row.account_id,
                "gateway_key": row.gateway_key,
                **one.to_dict(),
            }
        )
    return {
        "data": data,
        "total": total.to_dict(),
        "by": {
            name: {key: s.to_dict() for key, s in sorted(sums.items())}
            for name, sums in groups.items()
        },
        "series": {
            name: {
                key: {day: s.to_dict() for day, s in sorted(days.items())}
                for key, days in sorted(by_key.items())
            }
            for name, by_key in series.items()
        },
    }
