"""What the gateway knows about one provider: the one object a provider unit exports.

An OpenAI-compatible provider is only a ``ProviderSpec``: where it lives, which variables hold
its key, how it authenticates, which request fields it cannot take (dropped, or refused so
another provider is tried), how its answers differ from OpenAI's, how its errors and rate-limit
headers read, and whose quota a key spends. Native formats name an adapter ``kind``
(``providers/kinds.py``); a quirk that is more than data is a pure function on the spec
(``rewrite``, ``errors``, ``parse_models``), written in the provider's own module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin

from llm_agg.api.chat import GATEWAY_FIELDS
from llm_agg.providers.failures import UpstreamFailure, classify

if TYPE_CHECKING:
    from llm_agg.providers.listing import ListedModel

# Whose quota a key spends: its own ("key"), its account's or organisation's ("account":
# OpenRouter, Groq, Mistral), or its cloud project's ("project": Gemini). Keys that share one
# quota multiply nothing; an account names its project or organisation in the catalog
# (``quota_groups``).
QuotaScope = Literal["key", "account", "project"]
DEFAULT_PROJECT = "project:default"
# forward: sent as is; map: translated into the provider's format; drop: left out (logged);
# refuse: some values send the request to another provider (``refusals``); gateway: read by
# the gateway itself (routing, usage) and never sent.
Fate = Literal["forward", "drop", "refuse", "map", "gateway"]


def bearer(api_key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def env_prefix(provider: str) -> str:
    """``my-llama`` → ``MY_LLAMA``: the prefix of its ``_API_KEY`` and ``_BASE_URL`` variables."""
    return re.sub(r"[^A-Za-z0-9]", "_", provider).upper()


@dataclass(frozen=True, slots=True)
class Refusal:
    """A field value the provider answers with 400; the request goes elsewhere instead."""

    field: str
    applies: Callable[[Any], bool]
    reason: str


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    base_url: str
    kind: str = "openai"  # a name of providers.kinds.KINDS
    key_required: bool = True
    # Variables that hold its key, the first set wins (default ``<NAME>_API_KEY``).
    key_vars: tuple[str, ...] = ()
    # Placeholders of ``base_url`` and the variables that fill them (``{account_id}``).
    url_vars: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    drop_message_fields: frozenset[str] = frozenset()
    refusals: tuple[Refusal, ...] = ()
    finish_reasons: Mapping[str, str] = field(default_factory=dict)
    default_max_tokens: int | None = None
    timeout: float = 60.0
    rate_limit_headers: str = "openai"  # a name of providers.rate_headers.DIALECTS
    # Its limits count per account across models (a 429 cools the whole account).
    limits_per_account: bool = False
    # Native formats: the fate of every OpenAI field (see providers/fields.py). A field not
    # named there is forwarded to an OpenAI-compatible provider and dropped by a native one.
    fates: Mapping[str, Fate] = field(default_factory=dict)
    # How its credentials go on a request (Bearer unless its format says otherwise).
    auth: Callable[[str | None], dict[str, str]] = bearer
    # Its error answers, read into the gateway's failure classes.
    errors: Callable[[int, bytes], UpstreamFailure] = classify
    # Its model list, when it is not OpenAI's shape; and where, relative to the base URL,
    # when not at ``models``.
    parse_models: Callable[[bytes], list[ListedModel]] | None = None
    models_path: str | None = None
    # The OpenAI body as it may be sent to it, for quirks beyond dropping fields.
    rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    quota_scope: QuotaScope = "key"
    quota_groups: Mapping[str, str] = field(default_factory=dict)  # account → project/org
    # It ends an answer that calls tools with "stop" (Gemini): the client gets "tool_calls".
    tool_calls_end_as_stop: bool = False
    # The most prompt tokens it takes in one request, whatever the model (GitHub Models' free
    # tier): a request known to be larger is not sent to it.
    max_request_tokens: int | None = None
    # A local server: configured only while it answers (no key tells whether it is there).
    probe: bool = False

    @property
    def env_keys(self) -> tuple[str, ...]:
        return self.key_vars or (f"{env_prefix(self.name)}_API_KEY",)

    @property
    def setup_hint(self) -> str:
        """The variables that configure it: ``GEMINI_API_KEY (or GOOGLE_API_KEY)``."""
        if self.probe:
            return f"a server answering at {self.base_url} ({env_prefix(self.name)}_BASE_URL)"
        first, *others = self.env_keys
        hint = first + (f" (or {' or '.join(others)})" if others else "")
        return " and ".join([hint, *self.url_vars.values()])

    @property
    def unresolved(self) -> list[str]:
        """Variables its URL still waits for (a Cloudflare account id): until they are set it
        cannot be called."""
        return [var for name, var in self.url_vars.items() if "{" + name + "}" in self.base_url]

    def headers_for(self, api_key: str | None) -> dict[str, str]:
        """Every header of a request to it but the content type: the one place its
        authentication is written."""
        return {**self.auth(api_key), **self.headers}

    def quota_holder(self, account_id: str) -> str:
        """Whose quota this account spends: itself, or the project or organisation the
        catalog says it belongs to. Keys of a project-scoped provider that name no project
        share one: AI Studio makes every key in its default project unless told otherwise."""
        if self.quota_scope == "key":
            return account_id
        declared = self.quota_groups.get(account_id)
        if declared:
            return declared
        return DEFAULT_PROJECT if self.quota_scope == "project" else account_id

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def models_url(self) -> str:
        # A reference relative to the base URL: "../catalog/models" leaves /inference.
        return urljoin(self.base_url.rstrip("/") + "/", self.models_path or "models")

    def fate(self, name: str) -> Fate:
        """What happens to request field ``name`` on its way to this provider."""
        if name in GATEWAY_FIELDS:
            return "gateway"
        if name in self.fates:
            return self.fates[name]
        if name in self.drop:
            return "drop"
        if any(r.field == name for r in self.refusals):
            return "refuse"
        return "forward" if self.kind == "openai" else "drop"

    def refusal_for(self, body: Mapping[str, Any]) -> str | None:
        for refusal in self.refusals:
            if refusal.field in body and refusal.applies(body[refusal.field]):
                return refusal.reason
        return None
