"""The ``Adapter`` protocol over a native format's pure transforms (Anthropic, Cohere).

A format is its functions; the adapter adds only the clock that dates answers (OpenAI's
``created``), so the functions stay pure and tests pass the time in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from llm_agg.api.chat import ChatCall
from llm_agg.providers.base import Completion, Target, UpstreamRequest
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.native_stream import NativeStream
from llm_agg.providers.spec import ProviderSpec


@dataclass(frozen=True, slots=True)
class NativeFormat:
    build_request: Callable[[ChatCall, Target], UpstreamRequest]
    parse_response: Callable[[bytes, str, int], Completion]  # (body, model asked, created)
    stream: Callable[[str, int, bool], NativeStream]  # (model asked, created, include_usage)
    models_request: Callable[[ProviderSpec, str | None], UpstreamRequest]
    parse_models: Callable[[bytes], list[ListedModel]]


class NativeAdapter:
    def __init__(self, fmt: NativeFormat, clock: Callable[[], float] = time.time) -> None:
        self._format = fmt
        self._clock = clock

    def build_request(self, call: ChatCall, target: Target) -> UpstreamRequest:
        return self._format.build_request(call, target)

    def parse_response(self, body: bytes, call: ChatCall, target: Target) -> Completion:
        return self._format.parse_response(body, target.model, int(self._clock()))

    def stream_translator(self, call: ChatCall, target: Target) -> NativeStream:
        return self._format.stream(target.model, int(self._clock()), call.include_usage)

    def models_request(self, spec: ProviderSpec, api_key: str | None) -> UpstreamRequest:
        return self._format.models_request(spec, api_key)

    def parse_models(self, body: bytes) -> list[ListedModel]:
        return self._format.parse_models(body)
