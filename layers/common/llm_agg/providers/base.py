"""The adapter contract: how a request reaches a provider and how its answer comes back.

An adapter is pure: it builds bytes to send and reads bytes received; the HTTP call, retries
and failover belong to the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from llm_agg.api.chat import ChatCall
from llm_agg.providers.accounts import Account
from llm_agg.providers.spec import ProviderSpec
from llm_agg.providers.sse import SSEEvent


@dataclass(frozen=True, slots=True)
class Target:
    """One concrete way to serve a request: provider, its model id, and the account to use."""

    spec: ProviderSpec
    model: str
    account: Account
    max_output: int | None = None  # the model's output limit, when the catalog knows it
    # Whose quota this attempt spends: the account, or its project or organisation. Worked
    # out once (spec and account are frozen; the router keeps its targets), where admission
    # and accounting read it on every attempt.
    quota_holder: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        holder = self.spec.quota_holder(self.account.account_id, self.account.quota_group)
        object.__setattr__(self, "quota_holder", holder)


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~6 µs
# more of a cold worker's CPU than plain slot stores, and one is made before every stream's
# first byte (issue 17). Nothing changes one once built.
@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str] = field(repr=False)
    content: bytes = field(repr=False)
    # The headers passed ``api.wire.check_headers`` already: an adapter that builds them from
    # a set it checked once (dispatch checks any other request's itself).
    checked: bool = field(default=False, repr=False)
    # An object the adapter holds for this URL and these headers, the same for every request
    # with them and never changed (its memory's entry): the client finds what it built for
    # them by its identity (``UpstreamClient.build_known``). None: found by value.
    origin: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    """An answer in OpenAI's format, with the facts the gateway counts."""

    body: bytes
    usage: Usage | None
    finish_reason: str | None = None


class StreamTranslator(Protocol):
    """Turns a provider's SSE events into OpenAI chunk frames (``data: ...\\n\\n``)."""

    usage: Usage | None
    error: str | None

    def feed(self, event: SSEEvent) -> list[bytes]: ...

    def finish(self) -> list[bytes]:
        """Frames owed when the upstream stream ends: ``[DONE]``, or an error if it ended early."""
        ...


class Adapter(Protocol):
    def build_request(self, call: ChatCall, target: Target) -> UpstreamRequest: ...

    def parse_response(self, body: bytes, call: ChatCall, target: Target) -> Completion: ...

    def stream_translator(self, call: ChatCall, target: Target) -> StreamTranslator: ...


class MalformedResponse(ValueError):
    """A 2xx answer that is not what the provider's format promises."""


def usage_from(data: object) -> Usage | None:
    """OpenAI-style ``usage`` (``prompt_tokens``/``completion_tokens``), if present."""
    if not isinstance(data, dict):
        return None
    prompt, completion = data.get("prompt_tokens"), data.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt, completion)
    return None
