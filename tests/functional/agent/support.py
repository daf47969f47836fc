"""What the agent's functional tests share: a checkpoint store in memory (a test double of the
store Protocol), scripted model answers, and the agent app wired to a fake upstream on loopback.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from llm_agg.agent.config import AgentConfig
from llm_agg.agent.state import ThreadState, decode
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg.store.base import Checkpoint, ItemTooLarge, VersionConflict
from tests.e2e.harness import FakeUpstream

CATALOG = Path(__file__).resolve().parents[2] / "e2e" / "providers.yaml"
INVOKE = "/v1/agents/code/invoke"
RESUME = "/v1/agents/resume"


@dataclass
class MemoryCheckpoints:
    """The CheckpointStore contract in a dict: conditional on version, expiring, size-capped."""

    limit: int = 350 * 1024
    clock: Callable[[], float] = time.time
    items: dict[str, Checkpoint] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, thread_id: str) -> Checkpoint | None:
        item = self.items.get(thread_id)
        return item if item is not None and item.expires_at > self.clock() else None

    def put(self, checkpoint: Checkpoint, expected_version: int | None) -> None:
        if len(checkpoint.data) > self.limit:
            raise ItemTooLarge(f"{len(checkpoint.data)} bytes")
        with self.lock:
            current = self.get(checkpoint.thread_id)
            if (current.version if current else None) != expected_version:
                raise VersionConflict(checkpoint.thread_id)
            self.items[checkpoint.thread_id] = checkpoint

    def state(self, thread_id: str) -> ThreadState:
        item = self.items[thread_id]
        return decode(item.data, item.version)


_ids = itertools.count(1)


def completion(message: dict[str, Any], tokens: int = 18) -> dict[str, Any]:
    return {
        "body": {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": 1,
            "model": "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", **message},
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }
            ],
            "usage": {"prompt_tokens": tokens - 7, "completion_tokens": 7, "total_tokens": tokens},
        }
    }


def calls(*pairs: tuple[str, dict[str, Any] | str], **options: Any) -> dict[str, Any]:
    """A scripted answer calling tools: ``calls(("read_file", {"path": "a.py"}))``."""
    tool_calls = [
        {
            "id": f"call_{next(_ids)}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else orjson.dumps(args).decode(),
            },
        }
        for name, args in pairs
    ]
    return {**completion({"content": None, "tool_calls": tool_calls}), **options}


def call(name: str, args: dict[str, Any] | str, **options: Any) -> dict[str, Any]:
    return calls((name, args), **options)


def text(content: str) -> dict[str, Any]:
    return completion({"content": content})


def submit(code: str, explanation: str = "done") -> dict[str, Any]:
    return call("submit_code", {"code": code, "explanation": explanation})


def sent_messages(upstream: FakeUpstream) -> list[list[dict[str, Any]]]:
    """The messages of every model request the fake upstream received, in order."""
    return [r["body"]["messages"] for r in upstream.received()]


@dataclass
class AgentHarness:
    client: httpx.AsyncClient
    store: MemoryCheckpoints
    upstream: FakeUpstream
    settings: Settings
    runtime: Runtime  # the app's

    async def invoke(self, **body: Any) -> httpx.Response:
        return await self.client.post(INVOKE, json=body)

    async def resume(self, **body: Any) -> httpx.Response:
        return await self.client.post(RESUME, json=body)

    def queue(self, *answers: dict[str, Any], provider: str = "groq") -> None:
        self.upstream.queue(provider, *answers)


def config(**changes: Any) -> AgentConfig:
    return replace(AgentConfig(), **changes)
