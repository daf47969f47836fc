"""What the gateway knows about one provider, as data.

An OpenAI-compatible provider is only a ``ProviderSpec``: where it lives, how it authenticates,
which request fields it cannot take (dropped, or refused so another provider is tried), and
how its answers differ from OpenAI's. Native formats name an adapter ``kind`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llm_agg.api.chat import GATEWAY_FIELDS

Kind = Literal["openai", "anthropic", "cohere"]
# How its rate-limit headers read (llm_agg.limits.headers.announced).
RateHeaders = Literal["openai", "groq", "together", "anthropic", "openrouter", "none"]
# forward: sent as is; map: translated into the provider's format; drop: left out (logged);
# refuse: some values send the request to another provider (``refusals``); gateway: read by
# the gateway itself (routing, usage) and never sent.
Fate = Literal["forward", "drop", "refuse", "map", "gateway"]


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
    kind: Kind = "openai"
    key_required: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    drop_message_fields: frozenset[str] = frozenset()
    refusals: tuple[Refusal, ...] = ()
    finish_reasons: Mapping[str, str] = field(default_factory=dict)
    default_max_tokens: int | None = None
    timeout: float = 60.0
    rate_limit_headers: RateHeaders = "openai"
    # Its limits count per account across models (a 429 cools the whole account).
    limits_per_account: bool = False
    # Native formats: the fate of every OpenAI field (see providers/fields.py). A field not
    # named there is forwarded to an OpenAI-compatible provider and dropped by a native one.
    fates: Mapping[str, Fate] = field(default_factory=dict)

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def models_url(self) -> str:
        return self.base_url.rstrip("/") + "/models"

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
