"""A chat app whose runtime uses a given clock and stores, with providers mocked by respx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from llm_agg.apps.chat import create_chat_app
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg.store.base import Stores

GROQ = "https://api.groq.com/openai/v1/chat/completions"
CEREBRAS = "https://api.cerebras.ai/v1/chat/completions"
KEYS = {"GROQ_API_KEY": "gsk_test_0001", "CEREBRAS_API_KEY": "csk_test_0002"}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def completion(text: str = "hi", prompt: int = 11, completion_tokens: int = 7) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
    }


@contextmanager
def router_app(
    tmp: Path,
    catalog: str,
    stores: Stores,
    clock: Clock,
    env: dict[str, str] | None = None,
    discovery_interval: float = 0,
) -> Iterator[tuple[Starlette, Runtime]]:
    config = tmp / "providers.yaml"
    config.write_text(catalog)
    settings = Settings(
        config_path=config,
        data_dir=tmp,
        environ={**KEYS, **(env or {})},
        discovery_interval=discovery_interval,
    )
    runtime = Runtime(settings, clock, stores)
    yield create_chat_app(runtime), runtime


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


BODY = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}
