"""A Messages request as an OpenAI chat body, so ``/v1/messages`` routes and dispatches
exactly like ``/v1/chat/completions``. Pure.

Anthropic's conversation is blocks inside user/assistant turns; OpenAI's is messages: a
``tool_result`` block becomes a ``tool`` message (before the rest of its user turn, as OpenAI
wants them right after the calls), ``tool_use`` blocks an assistant's ``tool_calls``, images
data URLs. Earlier thinking is dropped (its signature means something only to Anthropic).
Anthropic's typed tools (web search, code execution, bash, text editor, computer...) are run by
Anthropic's servers or have schemas only Claude knows: no other provider can serve them, so
they are refused with a 400 rather than passed off as functions.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import orjson
from pydantic import ValidationError

from llm_agg.api.chat import ChatCall, ChatRequest
from llm_agg.api.errors import InvalidRequest
from llm_agg.api.messages import (
    Base64Source,
    ImageBlock,
    MessageParam,
    MessagesRequest,
    TextBlock,
    ThinkingBlock,
    Tool,
    ToolResultBlock,
    ToolUseBlock,
)
from llm_agg.api.validation import invalid_request
from llm_agg.routing.catalog import Alias, Catalog

# Claude Code's model ids when the catalog says nothing of them: served by ``auto``.
CLAUDE_ALIASES = (
    ("claude-*opus*", Alias("auto", "best_quality")),
    ("claude-*sonnet*", Alias("auto", "balanced")),
    ("claude-*haiku*", Alias("auto", "fastest")),
)
# Anthropic's output effort → OpenAI's reasoning_effort (which stops at high).
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def resolve_model(model: str, catalog: Catalog) -> Alias:
    """The catalog's ``aliases`` first, then a model the catalog lists under that very id,
    then the Claude defaults; anything else (``auto``, ``provider/model``) as it is."""
    alias = catalog.alias_for(model)
    if alias is not None:
        return alias
    if any(m.id == model for m in catalog.models):
        return Alias(model)
    return next(
        (alias for pattern, alias in CLAUDE_ALIASES if fnmatchcase(model, pattern)), Alias(model)
    )


def _image(block: ImageBlock) -> dict[str, Any]:
    source = block.source
    if isinstance(source, Base64Source):
        url = f"data:{source.media_type};base64,{source.data}"
    else:
        url = source.url
    return {"type": "image_url", "image_url": {"url": url}}


def _text(blocks: list[TextBlock]) -> str:
    return "\n".join(block.text for block in blocks)


def _user_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text alone as one string (every provider takes it); parts only when there are images."""
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def _tool_message(block: ToolResultBlock, images: list[dict[str, Any]]) -> dict[str, Any]:
    content = block.content
    if isinstance(content, list):
        images.extend(_image(part) for part in content if isinstance(part, ImageBlock))
        content = _text([part for part in content if isinstance(part, TextBlock)])
    text = content or ""
    if block.is_error:
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": text}


def _unserved(kind: str, where: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{kind}' content blocks have no equivalent outside Anthropic and cannot be served "
        "here; send them with an 'anthropic/...' model to reach Anthropic itself.",
        param=where,
    )


def _user(message: MessageParam, where: str, anthropic_only: bool) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"role": "user", "content": message.content}]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []  # returned by tools: OpenAI's tool messages are text
    for j, block in enumerate(message.content):
        if isinstance(block, ToolResultBlock):
            tools.append(_tool_message(block, images))
        elif isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_image(block))
        elif not isinstance(block, ThinkingBlock) and not anthropic_only:
            raise _unserved(block.type, f"{where}.content.{j}")
    parts = images + parts
    return [*tools, *([{"role": "user", "content": _user_content(parts)}] if parts else [])]


def _assistant(message: MessageParam, where: str, anthropic_only: bool) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"role": "assistant", "content": message.content}]
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(message.content):
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            arguments = orjson.dumps(block.input).decode()
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments},
                }
            )
        elif isinstance(block, ImageBlock | ToolResultBlock):
            raise InvalidRequest(
                f"An assistant turn cannot hold '{block.type}' blocks.",
                param=f"{where}.content.{j}",
            )
        elif not isinstance(block, ThinkingBlock) and not anthropic_only:
            raise _unserved(block.type, f"{where}.content.{j}")
    if not texts and not calls:
        return []  # only thinking: nothing an OpenAI model can read
    turn: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        turn["tool_calls"] = calls
    return [turn]


def _messages(request: MessagesRequest, anthropic_only: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    system = request.system
    if system:
        out.append(
            {"role": "system", "content": system if isinstance(system, str) else _text(system)}
        )
    for i, message in enumerate(request.messages):
        where = f"messages.{i}"
        if message.role == "user":
            out.extend(_user(message, where, anthropic_only))
        elif message.role == "assistant":
            out.extend(_assistant(message, where, anthropic_only))
        else:
            content = message.content
            if isinstance(content, list) and not all(isinstance(b, TextBlock) for b in content):
                raise InvalidRequest("A system message holds only text.", param=where)
            text = content if isinstance(content, str) else _text(content)  # type: ignore[arg-type]
            out.append({"role": "system", "content": text})
    return out


def server_tools(tools: list[Tool] | None) -> list[str]:
    """The typed tools of ``tools`` (``web_search_20250305``...), which only Anthropic serves."""
    return [tool.type for tool in tools or () if tool.type is not None and tool.type != "custom"]


def _tools(request: MessagesRequest, refuse_typed: bool) -> list[dict[str, Any]]:
    served = []
    typed = server_tools(request.tools)
    if typed and refuse_typed:
        raise InvalidRequest(
            f"Anthropic's server tools ({', '.join(typed)}) have no equivalent at the other "
            "providers and are never sent to them as functions: remove them, or use an "
            "'anthropic/...' model to reach Anthropic itself.",
            param="tools",
        )
    for i, tool in enumerate(request.tools or ()):
        if tool.type not in (None, "custom"):
            continue
        if tool.input_schema is None:
            raise InvalidRequest(
                f"Invalid 'tools.{i}.input_schema': Missing required parameter.",
                param=f"tools.{i}.input_schema",
            )
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
        if tool.description is not None:
            function["description"] = tool.description
        served.append({"type": "function", "function": function})
    return served


def _tool_choice(request: MessagesRequest, body: dict[str, Any]) -> None:
    choice = request.tool_choice
    if choice is None:
        return
    if choice.type == "tool":
        if not choice.name:
            raise InvalidRequest(
                "Invalid 'tool_choice.name': Missing required parameter.", param="tool_choice.name"
            )
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        body["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
    if choice.disable_parallel_tool_use:
        body["parallel_tool_calls"] = False


def _effort(request: MessagesRequest) -> str | None:
    """How hard to reason, for providers that take OpenAI's ``reasoning_effort``."""
    thinking = request.thinking
    effort = request.output_config.effort if request.output_config else None
    if thinking is None or thinking.type == "disabled":
        return EFFORTS[effort] if effort else None
    if thinking.type == "enabled" and thinking.budget_tokens is not None and not effort:
        budget = thinking.budget_tokens
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    return EFFORTS[effort] if effort else "medium"


def chat_body(
    request: MessagesRequest,
    catalog: Catalog,
    *,
    counting: bool = False,
    anthropic_only: bool = False,
) -> dict[str, Any]:
    """The OpenAI chat body that asks what ``request`` asks. What only Anthropic serves
    (server tools, documents...) is refused unless only Anthropic can be chosen
    (``anthropic_only``: it is sent the client's own body) or the tokens are only being
    counted; either way it is left out of the chat body, which then serves routing only."""
    alias = resolve_model(request.model, catalog)
    lenient = anthropic_only or counting
    body: dict[str, Any] = {"model": alias.model, "messages": _messages(request, lenient)}
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if tools := _tools(request, refuse_typed=not lenient):
        body["tools"] = tools
        _tool_choice(request, body)
    if request.stop_sequences:
        body["stop"] = request.stop_sequences
    for name in ("temperature", "top_p", "top_k"):
        if (value := getattr(request, name)) is not None:
            body[name] = value
    if effort := _effort(request):
        body["reasoning_effort"] = effort
    fmt = request.output_config.format if request.output_config else None
    if fmt is not None:
        schema = {"name": "output", "schema": fmt.schema_}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    if request.metadata is not None and request.metadata.user_id:
        body["user"] = request.metadata.user_id
    if request.stream:
        # Usage is what message_delta reports: always ask for it.
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if quality := request.model_quality or alias.model_quality:
        body["model_quality"] = quality
    if request.provider:
        body["provider"] = request.provider
    return body


def chat_call(body: dict[str, Any]) -> ChatCall:
    """The chat call the dispatcher serves, validated as a chat body is."""
    try:
        return ChatCall(body=body, request=ChatRequest.model_validate(body))
    except ValidationError as exc:
        raise invalid_request(exc) from None
