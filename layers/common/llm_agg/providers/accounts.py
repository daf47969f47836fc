"""Accounts: one provider key (or none, for a local server) and the headers that go with it;
the environment's accounts (``<PROVIDER>_API_KEY``, with ``<PROVIDER>_QUOTA_GROUP``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from llm_agg.providers.spec import ProviderSpec, env_prefix

log = logging.getLogger("llm_agg.accounts")

# Users name accounts after the e-mail they opened them with (account1@example.com), and
# projects after their cloud ids: both travel in URL paths and store keys (where '|' parts
# a key), so they keep to characters neither needs to escape.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
SAFE_NAME_RULE = (
    "1 to 128 letters, digits, '.', '_', '-', '@' or '+', beginning with a letter or digit"
)


@dataclass(frozen=True, slots=True)
class Account:
    provider: str
    account_id: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    source: str = "env"
    # The project or organisation whose quota its key spends, when it says (a Gemini key's
    # Google Cloud project, a Groq key's organisation): keys naming one share one quota.
    quota_group: str | None = None


def quota_group_problem(value: str) -> str | None:
    """What is wrong with a project or organisation name, or None."""
    if not SAFE_NAME.fullmatch(value):
        return f"a project or organisation name is {SAFE_NAME_RULE} (e.g. my-project-123)"
    return None


def quota_group_var(spec: ProviderSpec) -> str:
    """``GEMINI_QUOTA_GROUP``: the project or organisation of the environment's account."""
    return f"{env_prefix(spec.name)}_QUOTA_GROUP"


def _env_group(spec: ProviderSpec, environ: Mapping[str, str]) -> str | None:
    var = quota_group_var(spec)
    group = environ.get(var, "").strip()
    if not group:
        return None
    problem = quota_group_problem(group)
    if problem:  # the key still serves, counted as its own quota
        log.warning("%s ignored: %s", var, problem)
        return None
    return group


def env_accounts(specs: Iterable[ProviderSpec], environ: Mapping[str, str]) -> list[Account]:
    """An account per provider whose key variable is set (the first of its variables that
    is), or that needs no key; none for a provider whose URL waits for a variable."""
    accounts = []
    for spec in specs:
        if spec.unresolved:
            continue
        key = next((v for var in spec.env_keys if (v := environ.get(var, "").strip())), "")
        if key or not spec.key_required:
            group = _env_group(spec, environ)
            accounts.append(Account(spec.name, "env", key or None, source="env", quota_group=group))
    return accounts
