"""Builders shared by the native adapter tests: calls, targets, and streams fed in pieces."""

from __future__ import annotations

import json
from typing import Any

from llm_agg.api.chat import ChatCall, parse_chat
from llm_agg.providers.accounts import Account
from llm_agg.providers.base import StreamTranslator, Target
from llm_agg.providers.registry import BUILTIN
from llm_agg.providers.sse import SSEParser
from tests.support.openai_stream import Collected, collect


def chat(body: dict[str, Any]) -> ChatCall:
    return parse_chat(json.dumps(body).encode())


def target(provider: str, model: str, max_output: int | None = None) -> Target:
    account = Account(provider, "env", f"{provider}-secret-key")
    return Target(BUILTIN[provider], model, account, max_output)


def translate(translator: StreamTranslator, raw: bytes, size: int | None = None) -> list[bytes]:
    """The frames a translator gives for ``raw``, read ``size`` bytes at a time, then its end."""
    parser = SSEParser()
    step = size or len(raw) or 1
    frames: list[bytes] = []
    for start in range(0, len(raw), step):
        for event in parser.feed(raw[start : start + step]):
            frames.extend(translator.feed(event))
    for event in parser.flush():
        frames.extend(translator.feed(event))
    frames.extend(translator.finish())
    return frames


def run_stream(
    translator: StreamTranslator, raw: bytes, size: int | None = None
) -> tuple[list[bytes], Collected]:
    """The frames for ``raw``, and what an OpenAI client makes of them."""
    frames = translate(translator, raw, size)
    return frames, collect(b"".join(frames))
