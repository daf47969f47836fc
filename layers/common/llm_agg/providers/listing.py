"""What a provider's own model list says, and what an adapter gives to be asked for it.

An adapter that can list models (``ModelLister``) gives the request and a pure parser of its
provider's format; fetching, caching and sharing the lists is ``llm_agg.discovery``'s job, and
what the router and ``GET /v1/models`` make of them is ``routing``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from llm_agg.providers.base import UpstreamRequest
from llm_agg.providers.spec import ProviderSpec


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One model of a provider's list; a fact the list does not give stays None."""

    id: str
    created: int = 0
    context: int | None = None
    max_output: int | None = None
    free: bool | None = None
    chat: bool | None = None  # None: the list does not say whether it is a chat model
    capabilities: frozenset[str] | None = None


@runtime_checkable
class ModelLister(Protocol):
    def models_request(self, spec: ProviderSpec, api_key: str | None) -> UpstreamRequest: ...

    def parse_models(self, body: bytes) -> list[ListedModel]: ...
