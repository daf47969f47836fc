"""Accounts: one provider key (or none, for a local server) and the headers that go with it;
the environment's accounts (``<PROVIDER>_API_KEY``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from llm_agg.providers.spec import ProviderSpec


@dataclass(frozen=True, slots=True)
class Account:
    provider: str
    account_id: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    source: str = "env"


def env_accounts(specs: Iterable[ProviderSpec], environ: Mapping[str, str]) -> list[Account]:
    """An account per provider whose key variable is set (the first of its variables that
    is), or that needs no key; none for a provider whose URL waits for a variable."""
    accounts = []
    for spec in specs:
        if spec.unresolved:
            continue
        key = next((v for var in spec.env_keys if (v := environ.get(var, "").strip())), "")
        if key or not spec.key_required:
            accounts.append(Account(spec.name, "env", key or None, source="env"))
    return accounts
