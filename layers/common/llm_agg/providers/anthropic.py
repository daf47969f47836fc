"""Anthropic's Messages API behind the OpenAI format: request, answer and model list, pure.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``. The stream lives
in ``anthropic_stream.py``; the fate of every OpenAI field is in ``fields.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from llm_agg.api.chat import ChatCall, ChatRequest, ImagePart, Message, NamedToolChoice
from llm_agg.api.errors import InvalidRequest
from llm_agg.providers.anthropic_stream import AnthropicStream, finish_reason, usage_of
from llm_agg.providers.base import Completion, MalformedResponse, Target, UpstreamRequest
from llm_agg.providers.fields import native_spec
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.native import (
    clamp,
    completion_body,
    json_instruction,
    loads_object,
    max_tokens,
    parse_arguments,
    part_text,
    stop_list,
    text_of,
    tool_call,
    upstream_request,
)
from llm_agg.providers.native_adapter import NativeFormat
from llm_agg.providers.spec import ProviderSpec

VERSION = "2023-06-01"
# Anthropic requires max_tokens. When the client gives none, the catalog's output limit of the
# model is used, else this (every current Claude model can write at least this much).
DEFAULT_MAX_TOKENS = 4096
# reasoning_effort → thinking budget. Anthropic's minimum is 1024, and it must stay below
# max_tokens: a request with too little room gets no thinking rather than an error.
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
MIN_THINKING_BUDGET = 1024


def _image(part: ImagePart) -> dict[str, Any]:
    url = part.image_url.url
    if not url.startswith("data:"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    header, comma, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not comma or encoding != "base64" or not media_type:
        raise InvalidRequest(
            "An image data URL must be 'data:<media type>;base64,<data>'.", param="messages"
        )
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _content_blocks(message: Message) -> list[dict[str, Any]]:
    content = message.content
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content or ():
        if isinstance(part, ImagePart):
            blocks.append(_image(part))
        elif text := part_text(part):
            blocks.append({"type": "text", "text": text})
    return blocks


def _turn(message: Message, position: int) -> tuple[str, list[dict[str, Any]]]:
    """(role, blocks) of one non-system message."""
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidRequest(
                "A tool message needs the 'tool_call_id' it answers.",
                param=f"messages.{position}.tool_call_id",
            )
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        if text := text_of(message.content):
            result["content"] = text
        return "user", [result]
    blocks = _content_blocks(message)
    if message.role == "assistant":
        for call in message.tool_calls or ():
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.function.name,
                    "input": parse_arguments(call.function.arguments),
                }
            )
        return "assistant", blocks
    return "user", blocks


def conversation(messages: list[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    """System texts (hoisted from anywhere) and Anthropic's alternating user/assistant turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        if message.role in ("system", "developer"):
            if text := text_of(message.content):
                system.append(text)
            continue
        role, blocks = _turn(message, position)
        if not blocks:
            continue  # an empty turn is refused by Anthropic and says nothing
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # Tool results must open the user turn that carries them.
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
        if len(turn["content"]) == 1 and turn["content"][0]["type"] == "text":
            turn["content"] = turn["content"][0]["text"]
    return system, turns


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    tools = []
    for tool in request.tools or ():
        fn = tool.function
        entry: dict[str, Any] = {"name": fn.name}
        if fn.description is not None:
            entry["description"] = fn.description
        entry["input_schema"] = fn.parameters or {"type": "object", "properties": {}}
        tools.append(entry)
    return tools


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    out: dict[str, Any] | None
    if isinstance(choice, NamedToolChoice):
        out = {"type": "tool", "name": choice.function.get("name", "")}
    elif choice is not None:
        out = {"type": {"required": "any"}.get(choice, choice)}
    else:
        out = None
    if request.parallel_tool_calls is False and (out is None or out["type"] != "none"):
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


def _history_tools(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic refuses tool_use blocks in history unless their tools are declared: declare
    the names used, and the caller forbids new calls since the client offered no tools."""
    names = {
        block["name"]
        for turn in turns
        if turn["role"] == "assistant" and isinstance(turn["content"], list)
        for block in turn["content"]
        if block["type"] == "tool_use"
    }
    return [{"name": name, "input_schema": {"type": "object"}} for name in sorted(names)]


def _thinking(call: ChatCall, body: dict[str, Any]) -> dict[str, Any] | None:
    effort = call.body.get("reasoning_effort")
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        return None
    budget = min(budget, body["max_tokens"] - 1)
    forced = body.get("tool_choice", {}).get("type") in ("any", "tool")
    # Thinking during a tool loop needs the signed thinking blocks of the earlier turn, which
    # an OpenAI client cannot send back; and Anthropic refuses thinking with a forced tool.
    in_tool_loop = any(message.tool_calls for message in call.request.messages)
    if budget < MIN_THINKING_BUDGET or forced or in_tool_loop:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def build_body(call: ChatCall, target: Target) -> dict[str, Any]:
    request = call.request
    system, turns = conversation(request.messages)
    if instruction := json_instruction(request.response_format):
        system.append(instruction)
    limit = max_tokens(call, target) or target.max_output or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": target.model, "max_tokens": limit, "messages": turns}
    if system:
        body["system"] = (
            system[0] if len(system) == 1 else [{"type": "text", "text": text} for text in system]
        )
    if tools := _tools(request):
        body["tools"] = tools
        if (choice := _tool_choice(request)) is not None:
            body["tool_choice"] = choice
    elif history := _history_tools(turns):
        body["tools"] = history
        body["tool_choice"] = {"type": "none"}
    if (stops := stop_list(request.stop)) is not None:
        body["stop_sequences"] = stops
    if request.temperature is not None:
        body["temperature"] = clamp(request.temperature, 0.0, 1.0)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if isinstance(top_k := call.body.get("top_k"), int):
        body["top_k"] = top_k
    if user := request.user or call.body.get("safety_identifier"):
        body["metadata"] = {"user_id": str(user)}
    if thinking := _thinking(call, body):
        body["thinking"] = thinking
        # Anthropic allows no sampling changes while thinking, but top_p from 0.95 up.
        body.pop("temperature", None)
        body.pop("top_k", None)
        if body.get("top_p", 1.0) < 0.95:
            del body["top_p"]
    if call.stream:
        body["stream"] = True
    return body


def build_request(call: ChatCall, target: Target) -> UpstreamRequest:
    auth = target.spec.headers_for(target.account.api_key)
    return upstream_request(call, target, "/v1/messages", auth, build_body(call, target))


def auth(api_key: str | None) -> dict[str, str]:
    """Anthropic's own scheme: the key in ``x-api-key``, and the API version it speaks."""
    return {"anthropic-version": VERSION, **({"x-api-key": api_key} if api_key else {})}


def parse_response(body: bytes, model: str, created: int) -> Completion:
    data = loads_object(body, "anthropic")
    blocks = data.get("content")
    if data.get("type") != "message" or not isinstance(blocks, list):
        raise MalformedResponse("anthropic answer is not a message")
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(str(block.get("text", "")))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking", "")))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(tool_call(str(block.get("id")), str(block.get("name")), arguments))
    usage, cached = usage_of(data.get("usage"))
    reason = finish_reason(data.get("stop_reason"))
    answer = completion_body(
        id=f"chatcmpl-{data.get('id', '')}",
        created=created,
        model=str(data.get("model") or model),  # the exact version that answered
        text=text,
        reasoning=reasoning,
        tool_calls=calls,
        finish_reason=reason,
        usage=usage,
        cached=cached,
    )
    return Completion(answer, usage, reason)


def models_request(spec: ProviderSpec, api_key: str | None) -> UpstreamRequest:
    url = spec.base_url.rstrip("/") + "/v1/models?limit=1000"
    return UpstreamRequest(url, spec.headers_for(api_key), b"")


def parse_models(body: bytes) -> list[ListedModel]:
    """``GET /v1/models``: ``{data: [{type: "model", id, display_name, created_at}], ...}``."""
    data = loads_object(body, "anthropic").get("data")
    models = []
    for entry in data if isinstance(data, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        created = 0
        if isinstance(stamp := entry.get("created_at"), str):
            try:
                created = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
            except ValueError:
                created = 0
        models.append(ListedModel(entry["id"], created=created))
    return models


FORMAT = NativeFormat(build_request, parse_response, AnthropicStream, models_request, parse_models)

SPEC = native_spec(
    "anthropic", "https://api.anthropic.com", rate_limit_headers="anthropic", auth=auth
)
