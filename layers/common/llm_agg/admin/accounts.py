"""Provider accounts as the admin sees them, and adding one: shared by the admin API and
``llm-agg configure`` working on the local store directly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from llm_agg.admin.models import CredentialIn
from llm_agg.admin.verify import Verdict, check_key
from llm_agg.admin.views import AccountState
from llm_agg.api.errors import InvalidRequest, UpstreamFailed
from llm_agg.credentials import STORED, UNREADABLE, mask
from llm_agg.crypto.envelope import KeyringError
from llm_agg.providers.accounts import env_accounts
from llm_agg.providers.spec import ProviderSpec
from llm_agg.runtime import Runtime

# How an API client skips the live check; the CLI says it its own way (--no-verify).
SKIP_CHECK = 'send "verify": false to store it unchecked'


def account_states(
    runtime: Runtime, provider: str | None = None, account_id: str | None = None
) -> list[AccountState]:
    """Env and stored accounts, keys masked (blocking: reads the store and opens stored
    secrets through the vault's cache)."""
    specs = [s for s in runtime.specs.values() if provider is None or s.name == provider]
    states = [
        AccountState(
            a.provider,
            a.account_id,
            "env",
            True,
            mask(a.api_key) if a.api_key else None,
            quota_group=a.quota_group,
        )
        for a in env_accounts(specs, runtime.settings.environ)
        if account_id is None or a.account_id == account_id
        # A local server is an account only while it answers.
        if not runtime.specs[a.provider].probe or a.provider in runtime.reachable
    ]
    vault = runtime.stored.vault
    for record in runtime.stored.stores.credentials.list(provider):
        if account_id is not None and record.account_id != account_id:
            continue
        key: str | None = None
        headers: tuple[str, ...] = ()
        problem: str | None = None
        try:
            secret = vault.secret(record)
            key, headers = mask(secret.api_key), tuple(secret.headers)
        except (KeyringError, ValueError, KeyError):
            problem = UNREADABLE
        states.append(
            AccountState(
                record.provider,
                record.account_id,
                STORED,
                record.enabled,
                key,
                headers,
                record.created_at,
                record.last_used_at,
                record.last_error,
                problem,
                record.quota_group,
            )
        )
    return states


def groups_quota(spec: ProviderSpec) -> None:
    """Refuse a project or organisation for a provider that counts its quota per key: it would
    change nothing, and the user would believe otherwise."""
    if spec.quota_scope == "key":
        raise InvalidRequest(
            f"{spec.name} counts its quota per key: 'quota_group' changes nothing for it.",
            param="quota_group",
        )


@dataclass(frozen=True, slots=True)
class Added:
    state: AccountState
    replaced: bool
    verdict: Verdict | None


async def add_account(runtime: Runtime, body: CredentialIn) -> Added:
    """Check the key live if asked (nothing is stored unless the provider accepts it), then
    seal and store it. The provider must be known (``runtime.specs``); the backend open."""
    spec = runtime.specs[body.provider]
    if body.quota_group is not None:
        groups_quota(spec)
    verdict = None
    if body.verify:
        verdict = await check_key(runtime.client, spec, body.api_key, body.additional_headers)
        if verdict.ok is False:
            raise InvalidRequest(
                f"Not stored: {verdict.message}.", param="api_key", code="invalid_api_key"
            )
        if verdict.ok is None:
            raise UpstreamFailed(
                f"Not stored: the key could not be checked ({verdict.message}); "
                f"retry, or {SKIP_CHECK}.",
                code="verification_failed",
            )
    stored = runtime.stored
    existed = await asyncio.to_thread(stored.stores.credentials.get, body.provider, body.account_id)
    await asyncio.to_thread(
        stored.vault.put,
        body.provider,
        body.account_id,
        body.api_key,
        body.additional_headers,
        body.enabled,
        body.quota_group,
    )
    if verdict is not None and verdict.ok:
        runtime.quota.circuits.unpark(body.provider, body.account_id)
    states = await asyncio.to_thread(account_states, runtime, body.provider, body.account_id)
    state = next(s for s in states if s.source == STORED)
    return Added(state, existed is not None, verdict)


async def check_account(runtime: Runtime, provider: str, account_id: str) -> Verdict | None:
    """Ask the provider whether an existing account's key still works (None: no such account).
    The provider must be known; raises the store's and keyring's errors."""
    spec = runtime.specs[provider]
    if account_id == "env":
        found = env_accounts([spec], runtime.settings.environ)
        if not found:
            return None
        key, headers = found[0].api_key, found[0].headers
    else:
        stored = runtime.stored
        record = await asyncio.to_thread(stored.stores.credentials.get, provider, account_id)
        if record is None:
            return None
        secret = await asyncio.to_thread(stored.vault.secret, record)
        key, headers = secret.api_key, secret.headers
    if not key:
        return Verdict(None, f"this {provider} account has no key to check")
    verdict = await check_key(runtime.client, spec, key, headers)
    if verdict.ok:
        # The key works again: back into rotation, in every process (through the store).
        runtime.quota.circuits.unpark(provider, account_id)
    return verdict
