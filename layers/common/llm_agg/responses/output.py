"""Chat answers → Response objects and their output items (pure; ids come from ``new_id``).

The Response echoes what the request asked (instructions, tools, text format, …) the way
OpenAI's does, so a client reading it back (``GET /v1/responses/{id}``) sees its own request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import orjson

from llm_agg.api.responses import ResponsesRequest
from llm_agg.responses.request import CUSTOM_INPUT

NewId = Callable[[str], str]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def shell(
    request: ResponsesRequest, response_id: str, created_at: float, model: str
) -> dict[str, Any]:
    """The Response before any output: what ``response.created`` carries."""
    fmt = request.text.format if request.text and request.text.format else None
    reasoning = request.reasoning
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(created_at),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "reasoning": {
            "effort": reasoning.effort if reasoning else None,
            "summary": reasoning.summary if reasoning else None,
        },
        "store": request.stored,
        "temperature": request.temperature,
        "text": {"format": _dump(fmt) if fmt is not None else {"type": "text"}},
        "tool_choice": _dump(request.tool_choice) if request.tool_choice is not None else "auto",
        "tools": [_dump(tool) for tool in request.tools or []],
        "top_p": request.top_p,
        "truncation": "disabled",
        "usage": None,
        "user": request.user,
        "metadata": request.metadata or {},
    }


def _dump(value: Any) -> Any:
    return value.model_dump(by_alias=True) if hasattr(value, "model_dump") else value


def usage(chat: Any) -> dict[str, Any] | None:
    """Chat usage (``prompt_tokens``…) in the Responses form (``input_tokens``…)."""
    if not isinstance(chat, dict):
        return None
    prompt = _int(chat.get("prompt_tokens"))
    completion = _int(chat.get("completion_tokens"))
    cached = _int((chat.get("prompt_tokens_details") or {}).get("cached_tokens"))
    reasoning = _int((chat.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": _int(chat.get("total_tokens")) or prompt + completion,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


# finish_reason → why a response is incomplete; any other reason completes it.
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def finished(
    response: dict[str, Any], finish_reason: str | None, chat_usage: Any
) -> dict[str, Any]:
    """``response`` (its output in place) with its final status, usage and ``output_text``."""
    reason = INCOMPLETE.get(finish_reason or "")
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None
    response["usage"] = usage(chat_usage)
    response["output_text"] = output_text(response["output"])
    return response


def output_text(output: list[dict[str, Any]]) -> str:
    return "".join(
        part["text"]
        for item in output
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [text_part(text)] if status == "completed" else [],
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "reasoning_text", "text": text}] if status == "completed" else []
    return {"id": item_id, "type": "reasoning", "summary": [], "content": content, "status": status}


def call_item(
    item_id: str,
    call_id: str,
    name: str,
    arguments: str,
    custom: bool,
    status: str = "completed",
) -> dict[str, Any]:
    """A ``function_call`` item, or the ``custom_tool_call`` a custom tool's call becomes."""
    if custom:
        return {
            "id": item_id,
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": name,
            "input": custom_input(arguments) if status == "completed" else "",
            "status": status,
        }
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def custom_input(arguments: str) -> str:
    """A custom tool's text from the arguments of the function it became; a model that wrote
    the text bare, not as ``{"input": …}``, is taken at its word."""
    try:
        data = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(data, dict) and isinstance(data.get(CUSTOM_INPUT), str):
        return str(data[CUSTOM_INPUT])
    return arguments


def from_completion(
    completion: dict[str, Any],
    response: dict[str, Any],
    custom_tools: frozenset[str],
    ids: NewId = new_id,
) -> dict[str, Any]:
    """The finished Response for a chat completion; ``response`` is its shell."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(ids("rs"), reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        output.append(message_item(ids("msg"), content))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        arguments = str(function.get("arguments") or "")
        call_id = str(call.get("id") or ids("call"))
        item_id = ids("ctc" if name in custom_tools else "fc")
        output.append(call_item(item_id, call_id, name, arguments, name in custom_tools))
    response["output"] = output
    if isinstance(completion.get("model"), str):
        response["model"] = completion["model"]
    return finished(response, choice.get("finish_reason"), completion.get("usage"))
