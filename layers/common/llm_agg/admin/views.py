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


def providers(
    specs: Mapping[str, ProviderSpec],
    supported: Mapping[str, bool],
    accounts: Iterable[AccountState],
    cooling_until: Mapping[tuple[str, str], float],
    requests_today: Mapping[tuple[str, str], int],
    router: Mapping[tuple[str, str], Mapping[str, object]] | None = None,
) -> list[dict[str, object]]:
    """``router`` adds what the router knows of each account: its cooldowns, of the whole
    account or of one model, and what is left of each quota window."""
    by_provider: dict[str, list[AccountState]] = {}
    for state in accounts:
        by_provider.setdefault(state.provider, []).append(state)
    out = []
    for name in sorted(specs):
        rows = []
        for a in by_provider.get(name, []):
            key = (a.provider, a.account_id)
            until = cooling_until.get(key)
            rows.append(
                {
                    "account_id": a.account_id,
                    "source": a.source,
                    "enabled": a.enabled,
                    "healthy": a.enabled
                    and supported.get(name, False)
                    and until is None
                    and a.problem is None,
                    "cooling_down_until": until,
                    "last_error": a.last_error or a.problem,
                    "last_used_at": a.last_used_at,
                    "requests_today": requests_today.get(key, 0),
                    **(router or {}).get(key, {}),
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
