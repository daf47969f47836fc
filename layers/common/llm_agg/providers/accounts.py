"""Accounts: one provider key (or none, for a local server) and the headers that go with it;
the environment's accounts (``<PROVIDER>_API_KEY``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from llm_agg.providers.registry import env_prefix
from llm_agg.providers.spec import ProviderSpec


@dataclass(frozen=True, slots=True)
class Account:
    provider: str
    account_id: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    source: str = "env"


def env_accounts(specs: Iterable[ProviderSpec], environ: Mapping[str, str]) -> list[Account]:
    """An account per provider whose ``<PROVIDER>_API_KEY`` is set, or that needs no key."""
    accounts = []
    for spec in specs:
        key = environ.get(f"{env_prefix(spec.name)}_API_KEY", "").strip()
        if key or not spec.key_required:
            accounts.append(Account(spec.name, "env", key or None, source="env"))
    return accounts
