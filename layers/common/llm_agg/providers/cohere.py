"""Cohere's v2 Chat API behind the OpenAI format: request, answer and model list, pure.

``POST {base_url}/v2/chat`` with a Bearer key. Cohere v2 shares OpenAI's tool and image
shapes; it differs in sampling names and ranges, the answer envelope, finish reasons, usage and
stream events (``cohere_stream.py``). The fate of every OpenAI field is in ``fields.py``.
Cohere's ``tool_plan`` (and ``thinking`` content) is given to the client as
``reasoning_content``, in both directions, streamed or not.
"""

from __future__ import annotations

from typing import Any

from llm_agg.api.chat import ChatCall, ChatRequest, ImagePart, Message, NamedToolChoice
from llm_agg.api.errors import InvalidRequest
from llm_agg.providers.base import Completion, MalformedResponse, Target, UpstreamRequest
from llm_agg.providers.cohere_stream import CohereStream, finish_reason, tool_arguments, usage_of
from llm_agg.providers.fields import native_spec
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.native import (
    clamp,
    completion_body,
    count,
    loads_object,
    max_tokens,
    part_text,
    stop_list,
    text_of,
    tool_call,
    upstream_request,
)
from llm_agg.providers.native_adapter import NativeFormat
from llm_agg.providers.spec import ProviderSpec


def _user_content(message: Message) -> str | list[dict[str, Any]]:
    if not isinstance(message.content, list):
        return message.content or ""
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            parts.append({"type": "image_url", "image_url": part.image_url.model_dump()})
        elif text := part_text(part):
            parts.append({"type": "text", "text": text})
    return parts


def _message(message: Message, position: int) -> dict[str, Any] | None:
    role = message.role
    if role in ("system", "developer"):
        text = text_of(message.content)
        return {"role": "system", "content": text} if text else None
    if role == "tool":
        if not message.tool_call_id:
            raise InvalidRequest(
                "A tool message needs the 'tool_call_id' it answers.",
                param=f"messages.{position}.tool_call_id",
            )
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": text_of(message.content),
        }
    if role != "assistant":
        return {"role": "user", "content": _user_content(message)}
    out: dict[str, Any] = {"role": "assistant"}
    if message.tool_calls:
        plan = (message.model_extra or {}).get("reasoning_content")
        if isinstance(plan, str) and plan:
            out["tool_plan"] = plan
        out["tool_calls"] = [
            tool_call(c.id, c.function.name, c.function.arguments or "{}")
            for c in message.tool_calls
        ]
    if text := text_of(message.content):
        out["content"] = text
    return out if "content" in out or "tool_calls" in out else None


def _tools(request: ChatRequest) -> tuple[list[dict[str, Any]], str | None]:
    """Tools in Cohere's (OpenAI's) shape, and the tool_choice that goes with them."""
    tools: list[dict[str, Any]] = []
    for tool in request.tools or ():
        fn = tool.function
        function: dict[str, Any] = {"name": fn.name}
        if fn.description is not None:
            function["description"] = fn.description
        function["parameters"] = fn.parameters or {"type": "object", "properties": {}}
        tools.append({"type": "function", "function": function})
    choice = request.tool_choice
    if isinstance(choice, NamedToolChoice):
        # Cohere cannot name the tool to call: offer only that one, and require a call.
        name = choice.function.get("name")
        tools = [t for t in tools if t["function"]["name"] == name]
        if not tools:
            raise InvalidRequest(
                f"tool_choice names {name!r}, which is not among the tools.", param="tool_choice"
            )
        return tools, "REQUIRED"
    return tools, {"required": "REQUIRED", "none": "NONE"}.get(choice or "auto")


def build_body(call: ChatCall, target: Target) -> dict[str, Any]:
    request = call.request
    converted = (_message(message, i) for i, message in enumerate(request.messages))
    messages = [message for message in converted if message is not None]
    body: dict[str, Any] = {"model": target.model, "messages": messages}
    tools, choice = _tools(request)
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    if limit := max_tokens(call, target):
        body["max_tokens"] = limit
    if (stops := stop_list(request.stop)) is not None:
        body["stop_sequences"] = stops
    if request.temperature is not None:
        body["temperature"] = clamp(request.temperature, 0.0, 1.0)
    if request.top_p is not None:
        body["p"] = clamp(request.top_p, 0.01, 0.99)
    if isinstance(top_k := call.body.get("top_k"), int):
        body["k"] = int(clamp(top_k, 0, 500))
    if request.seed is not None:
        body["seed"] = request.seed
    for name in ("frequency_penalty", "presence_penalty"):
        if (value := getattr(request, name)) is not None:
            body[name] = clamp(value, 0.0, 1.0)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        body["response_format"] = {"type": "json_object"}
        schema = (fmt.json_schema or {}).get("schema")
        if fmt.type == "json_schema" and schema is not None:
            body["response_format"]["json_schema"] = schema
    body["stream"] = call.stream  # as Cohere's own examples do
    return body


def build_request(call: ChatCall, target: Target) -> UpstreamRequest:
    auth = target.spec.headers_for(target.account.api_key)
    return upstream_request(call, target, "/v2/chat", auth, build_body(call, target))


def parse_response(body: bytes, model: str, created: int) -> Completion:
    """``model`` is the one asked for: Cohere's answer does not name the model."""
    data = loads_object(body, "cohere")
    message = data.get("message")
    if not isinstance(message, dict):
        raise MalformedResponse("cohere answer has no message")
    reason = data.get("finish_reason")
    if reason in ("ERROR", "TIMEOUT"):
        # A 200 that says the generation failed: the provider's trouble, so try another.
        raise MalformedResponse(f"cohere ended the answer with {reason}")
    text: list[str] = []
    reasoning: list[str] = []
    for part in message.get("content") or ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text.append(str(part.get("text", "")))
        elif kind == "thinking":
            reasoning.append(str(part.get("thinking", "")))
    if isinstance(plan := message.get("tool_plan"), str) and plan:
        reasoning.append(plan)
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = tool_arguments(function.get("arguments"))
        calls.append(tool_call(str(call.get("id")), str(function.get("name")), arguments))
    usage, cached = usage_of(data.get("usage"))
    finish = finish_reason(reason)
    answer = completion_body(
        id=f"chatcmpl-{data.get('id', '')}",
        created=created,
        model=model,
        text=text,
        reasoning=reasoning,
        tool_calls=calls,
        finish_reason=finish,
        usage=usage,
        cached=cached,
    )
    return Completion(answer, usage, finish)


def models_request(spec: ProviderSpec, api_key: str | None) -> UpstreamRequest:
    # Cohere lists models under v1 only; ask for the chat models, in one page.
    url = spec.base_url.rstrip("/") + "/v1/models?endpoint=chat&page_size=1000"
    return UpstreamRequest(url, spec.headers_for(api_key), b"")


def parse_models(body: bytes) -> list[ListedModel]:
    """``GET /v1/models``: ``{models: [{name, endpoints, context_length, ...}], ...}``."""
    data = loads_object(body, "cohere").get("models")
    models = []
    for entry in data if isinstance(data, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        if "chat" not in (entry.get("endpoints") or ()) or entry.get("is_deprecated"):
            continue
        context = entry.get("context_length")
        models.append(ListedModel(entry["name"], context=count(context) or None))
    return models


FORMAT = NativeFormat(build_request, parse_response, CohereStream, models_request, parse_models)

SPEC = native_spec("cohere", "https://api.cohere.com", rate_limit_headers="none")
