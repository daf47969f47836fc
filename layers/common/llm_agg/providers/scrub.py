"""An account's secret values taken out of every upstream message that leaves the gateway.

Providers echo what they were sent: the key in a 401, a header value in a 400, either in an
error event in the middle of a stream. Whatever of that reaches a client, a log or the store
passes through here first, with every secret of the account that was used (its key and each
``additional_headers`` value), raw and as JSON writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from llm_agg.providers.accounts import Account
from llm_agg.providers.base import StreamTranslator, Usage
from llm_agg.providers.sse import SSEEvent

MASK = "***"
# Shorter values are no secret worth hiding, and masking them would garble messages ("1").
MIN_SECRET = 6


def secret_values(api_key: str | None, headers: Mapping[str, str]) -> tuple[str, ...]:
    """Each secret as it may appear in text, longest first (a key inside a header value)."""
    values: set[str] = set()
    for value in (api_key or "", *headers.values()):
        if len(value) >= MIN_SECRET:
            values.add(value)
            values.add(orjson.dumps(value).decode()[1:-1])  # as it sits inside a JSON string
    return tuple(sorted(values, key=len, reverse=True))


def account_secrets(account: Account) -> tuple[str, ...]:
    return secret_values(account.api_key, account.headers)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def scrub_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    for secret in secrets:
        data = data.replace(secret.encode(), MASK.encode())
    return data


class ScrubbedStream:
    """A stream translator whose error (the upstream's words) is scrubbed before it is sent.

    Only frames emitted when an error appears are scrubbed: a stream's content is the model's
    answer, relayed as it is, and scanning every chunk would cost the hot path. The account's
    secrets are worked out then too, not before every stream's first byte."""

    __slots__ = ("_account", "_found", "_inner")

    def __init__(self, inner: StreamTranslator, account: Account) -> None:
        self._inner = inner
        self._account = account
        self._found: tuple[str, ...] | None = None

    @property
    def _secrets(self) -> tuple[str, ...]:
        if self._found is None:
            self._found = account_secrets(self._account)
        return self._found

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @usage.setter
    def usage(self, value: Usage | None) -> None:
        self._inner.usage = value

    @property
    def error(self) -> str | None:
        error = self._inner.error
        return scrub(error, self._secrets) if error is not None else None

    @error.setter
    def error(self, value: str | None) -> None:
        self._inner.error = value

    def _clean(self, frames: list[bytes]) -> list[bytes]:
        if self._inner.error is None or not self._secrets:
            return frames
        return [scrub_bytes(frame, self._secrets) for frame in frames]

    def feed(self, event: SSEEvent) -> list[bytes]:
        frames = self._inner.feed(event)
        if self._inner.error is None:  # the usual event: without ``_clean``'s call
            return frames
        return self._clean(frames)

    def finish(self) -> list[bytes]:
        return self._clean(self._inner.finish())
