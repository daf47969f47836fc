"""What the configured keys are worth: the free requests and tokens per minute and per day
each provider and model gives, in total over the quotas the accounts really hold, and what is
left of each window now (``GET /admin/capacity``, ``llm-agg models --free``, the dashboard).

Keys that share one quota (one Gemini project, one Groq organisation) count once: the total
is the limit times the number of distinct quota holders, never the number of keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from llm_agg.limits.windows import ACCOUNT, Limit, bucket
from llm_agg.providers.spec import ProviderSpec
from llm_agg.routing.catalog import ModelInfo

# limits in force for (provider, holder, model); what is used of one now
LimitsOf = Callable[[str, str, str], tuple[Limit, ...]]
UsedOf = Callable[[str, str, Limit, int], int]


@dataclass(frozen=True, slots=True)
class Window:
    name: str  # rpm, rpd, tpm, tpd...
    per_quota: int
    quotas: int
    left: int
    resets_at: float

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "per_quota": self.per_quota,
            "total": self.per_quota * self.quotas,
            "left": self.left,
            "resets_at": self.resets_at,
        }


def _windows(
    provider: str,
    holders: list[str],
    limits_of: LimitsOf,
    used_of: UsedOf,
    model: str,
    scope: str,
    now: float,
) -> list[Window]:
    """The windows of ``scope`` (the model, or ACCOUNT for the provider's shared ones)."""
    found: dict[str, Window] = {}
    for holder in holders:
        for limit in limits_of(provider, holder, model):
            if (limit.scope == ACCOUNT) != (scope == ACCOUNT):
                continue
            index, end = bucket(limit.window, now)
            left = max(0, limit.value - used_of(provider, holder, limit, index))
            known = found.get(limit.name)
            total_left = left + (known.left if known else 0)
            found[limit.name] = Window(limit.name, limit.value, len(holders), total_left, end)
    order = {"s": 0, "m": 1, "h": 2, "d": 3}
    return sorted(found.values(), key=lambda w: (w.name[0] != "r", order[w.name[2]]))


def capacity(
    specs: Mapping[str, ProviderSpec],
    models: Iterable[ModelInfo],
    accounts: Mapping[str, list[str]],
    limits_of: LimitsOf,
    used_of: UsedOf,
    now: float,
    free_only: bool = True,
) -> list[dict[str, object]]:
    """Per configured provider (``accounts``: provider → its account ids): its quota scope,
    how many distinct quotas its accounts hold, its shared windows and each model's."""
    by_provider: dict[str, list[ModelInfo]] = {}
    for model in models:
        if model.free or not free_only:
            by_provider.setdefault(model.provider, []).append(model)
    out = []
    for provider, ids in sorted(accounts.items()):
        spec = specs[provider]
        holders = sorted({spec.quota_holder(account) for account in ids})
        mine = by_provider.get(provider, [])
        first = mine[0].id if mine else ""
        shared = _windows(provider, holders, limits_of, used_of, first, ACCOUNT, now)
        out.append(
            {
                "provider": provider,
                "quota_scope": spec.quota_scope,
                "accounts": len(ids),
                "quotas": len(holders),
                "shared": [w.to_dict() for w in shared],
                "models": [
                    {
                        "model": m.id,
                        "free": m.free,
                        "context": m.context,
                        "windows": [
                            w.to_dict()
                            for w in _windows(
                                provider, holders, limits_of, used_of, m.id, m.id, now
                            )
                        ],
                    }
                    for m in mine
                ],
            }
        )
    return out
