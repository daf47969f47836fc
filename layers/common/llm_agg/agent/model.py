"""The agent's model calls, made in-process through the gateway's router and dispatcher.

Any tool-capable model of any provider will do: the request carries the tools, so routing
only considers models the catalog marks with the ``tools`` capability, and fails over between
them like any chat request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from llm_agg.api.chat import ChatCall, parse_chat
from llm_agg.api.errors import UpstreamFailed
from llm_agg.dispatch import Dispatcher
from llm_agg.routing.select import AUTO
from llm_agg.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Reply:
    message: dict[str, Any]  # the assistant message: role, content, tool_calls
    tokens: int
    model: str  # provider/model that answered


def _tool_calls(raw: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw if isinstance(raw, list) else ():
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # a few providers send an object
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
        given = item.get("id")
        # Answers are matched to calls by id: a missing or repeated one gets a fresh id.
        call_id = given if isinstance(given, str) and given and given not in seen else None
        call_id = call_id or "call_" + secrets.token_hex(8)
        seen.add(call_id)
        calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": function["name"], "arguments": arguments},
            }
        )
    return calls


def assistant_message(body: bytes) -> dict[str, Any]:
    """The assistant message of an OpenAI completion, with only the fields every provider
    accepts back in a later request."""
    try:
        message = orjson.loads(body)["choices"][0]["message"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise UpstreamFailed("The model's answer holds no message.") from None
    content = message.get("content") if isinstance(message, dict) else None
    out: dict[str, Any] = {
        "role": "assistant",
        "content": content if isinstance(content, str) else None,
    }
    calls = _tool_calls(message.get("tool_calls") if isinstance(message, dict) else None)
    if calls:
        out["tool_calls"] = calls
    return out


class RouterModel:
    def __init__(
        self,
        runtime: Runtime,
        model: str | None = None,
        provider: str | None = None,
        model_quality: str | None = None,
        gateway_key: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.model = model or AUTO
        self.provider = provider
        self.model_quality = model_quality
        self.gateway_key = gateway_key  # the agent's model calls count as its caller's usage

    def call(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatCall:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "tools": tools}
        if self.provider:
            body["provider"] = self.provider
        if self.model_quality:
            body["model_quality"] = self.model_quality
        return parse_chat(orjson.dumps(body))

    async def check(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
        """Raise what routing would refuse (unknown model or provider, none configured)."""
        await self.runtime.router.route(self.call(messages, tools))

    async def __call__(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        call = self.call(messages, tools)
        targets = await self.runtime.router.route(call)
        served = await Dispatcher(self.runtime).complete(call, targets, self.gateway_key)
        usage = served.completion.usage
        # Without usage from the provider, a rough count (4 bytes a token) still bounds the run.
        guess = (len(orjson.dumps(call.body)) + len(served.completion.body)) // 4
        return Reply(
            message=assistant_message(served.completion.body),
            tokens=usage.total_tokens if usage else guess,
            model=f"{served.target.spec.name}/{served.target.model}",
        )
