"""A Responses request → the chat body every provider adapter already takes.

Items become chat messages: ``function_call`` and ``custom_tool_call`` items join the
assistant message before them as ``tool_calls``; their ``*_output`` items become ``tool``
messages; ``reasoning`` items are dropped (no chat provider takes them back). A ``custom``
(freeform) tool becomes a function with one string parameter, ``input``; its calls are turned
back into ``custom_tool_call`` items on the way out (``output``, ``stream``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from llm_agg.api.chat import ChatCall, parse_chat
from llm_agg.api.errors import InvalidRequest
from llm_agg.api.responses import (
    CustomTool,
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    InputFile,
    InputImage,
    Item,
    JsonObjectFormat,
    JsonSchemaFormat,
    MessageItem,
    NamedChoice,
    OutputPart,
    Part,
    ResponsesRequest,
)
from llm_agg.api.validation import invalid_request

CUSTOM_INPUT = "input"  # the one parameter of the function a custom tool becomes
_ITEMS: TypeAdapter[list[Item]] = TypeAdapter(list[Item])


@dataclass(frozen=True, slots=True)
class Translation:
    """The chat call to dispatch, and what answering it needs: the conversation's input items
    (kept with the response when it is stored) and which tools are custom."""

    call: ChatCall
    items: list[dict[str, Any]]
    custom_tools: frozenset[str]


def input_items(request: ResponsesRequest, body: dict[str, Any]) -> list[dict[str, Any]]:
    """This request's input as items, in the JSON the client sent (kept as it came)."""
    if isinstance(request.input, str):
        return [{"type": "message", "role": "user", "content": request.input}]
    raw = body.get("input")
    return list(raw) if isinstance(raw, list) else []


def to_chat(
    request: ResponsesRequest, body: dict[str, Any], history: Sequence[dict[str, Any]] = ()
) -> Translation:
    """The chat call for ``request``, continuing ``history`` (the items of the response it
    follows, input and output), or ``InvalidRequest`` saying what cannot be served."""
    items = [*history, *input_items(request, body)]
    try:
        # The request's own items are validated already; only the kept history is read here.
        parsed: list[Any] = _ITEMS.validate_python(history) if history else []
    except ValidationError as exc:
        raise invalid_request(exc) from None
    if isinstance(request.input, str):
        parsed.append(MessageItem(role="user", content=request.input))
    else:
        parsed += request.input or []
    messages = [{"role": "system", "content": request.instructions}] if request.instructions else []
    messages += _messages(parsed)
    if not messages:
        raise InvalidRequest("Nothing to answer: 'input' is empty.", param="input")
    chat: dict[str, Any] = {"model": request.model, "messages": messages}
    tools = request.tools or []
    if tools:
        chat["tools"] = [_tool(tool) for tool in tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        chat["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if isinstance(choice, NamedChoice)
            else choice
        )
    fmt = request.text.format if request.text else None
    if isinstance(fmt, JsonSchemaFormat):
        schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema_}
        if fmt.description is not None:
            schema["description"] = fmt.description
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(fmt, JsonObjectFormat):
        chat["response_format"] = {"type": "json_object"}
    effort = request.reasoning.effort if request.reasoning else None
    optional = {
        "parallel_tool_calls": request.parallel_tool_calls,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_output_tokens,
        "reasoning_effort": effort,
        "user": request.user or request.safety_identifier,
        "provider": request.provider,
        "model_quality": request.model_quality,
    }
    chat.update({k: v for k, v in optional.items() if v is not None})
    if request.stream:
        # Usage always: the final event carries it, whether or not the client asks.
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    custom = frozenset(t.name for t in tools if isinstance(t, CustomTool))
    return Translation(parse_chat(orjson.dumps(chat)), items, custom)


def _tool(tool: FunctionTool | CustomTool) -> dict[str, Any]:
    if isinstance(tool, FunctionTool):
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
        if tool.strict:
            function["strict"] = True
        return {"type": "function", "function": function}
    description = tool.description or ""
    if tool.format is not None and tool.format.type == "grammar":
        # The model has no grammar-constrained decoding here: the grammar is its instruction.
        grammar = (
            f"The input must follow this {tool.format.syntax} grammar:\n{tool.format.definition}"
        )
        description = f"{description}\n\n{grammar}" if description else grammar
    parameter = {"type": "string", "description": "The tool's whole input, as free text."}
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {CUSTOM_INPUT: parameter},
                "required": [CUSTOM_INPUT],
                "additionalProperties": False,
            },
        },
    }


def _messages(items: Sequence[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Images a tool returned (Codex's view_image): a chat tool message holds text only, so
    # they follow the run of tool messages as a user message the model can look at.
    images: list[dict[str, Any]] = []
    for item in items:
        is_output = isinstance(item, FunctionCallOutputItem | CustomToolCallOutputItem)
        if images and not is_output:
            out.append(_tool_images(images))
            images = []
        if isinstance(item, MessageItem):
            role = "system" if item.role in ("system", "developer") else item.role
            out.append({"role": role, "content": _content(item.content, role)})
        elif isinstance(item, FunctionCallItem | CustomToolCallItem):
            arguments = (
                item.arguments
                if isinstance(item, FunctionCallItem)
                else orjson.dumps({CUSTOM_INPUT: item.input}).decode()
            )
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": arguments},
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif is_output:
            content, shown = _tool_output(item.output)
            out.append({"role": "tool", "tool_call_id": item.call_id, "content": content})
            images += shown
        # reasoning items: dropped
    if images:
        out.append(_tool_images(images))
    return out


def _tool_images(images: list[dict[str, Any]]) -> dict[str, Any]:
    note = {"type": "text", "text": "The image(s) returned by the tool call(s) above:"}
    return {"role": "user", "content": [note, *images]}


def _unsupported(part: Any) -> InvalidRequest | None:
    if isinstance(part, InputFile):
        return InvalidRequest("'input_file' parts are not supported; send the file's text.")
    if isinstance(part, InputImage) and not part.image_url:
        return InvalidRequest(
            "An 'input_image' needs an 'image_url' (a URL or a data: URL); file ids are not "
            "supported."
        )
    return None


def _content(content: str | list[Part], role: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if (error := _unsupported(part)) is not None:
            raise error
        if isinstance(part, InputImage):
            if role != "user":
                raise InvalidRequest(f"Images are only taken in user messages, not {role} ones.")
            parts.append(_image(part))
        else:
            text = part.refusal if part.type == "refusal" else part.text  # type: ignore[union-attr]
            parts.append({"type": "text", "text": text})
    if all(p["type"] == "text" for p in parts):
        # Text alone travels as a string: every provider takes that, not all take parts.
        return "\n".join(p["text"] for p in parts)
    return parts


def _tool_output(output: str | list[OutputPart]) -> tuple[str, list[dict[str, Any]]]:
    """A tool's output as the tool message's text, and the images it returned."""
    if isinstance(output, str):
        return output, []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for part in output:
        if (error := _unsupported(part)) is not None:
            raise error
        if isinstance(part, InputImage):
            images.append(_image(part))
            texts.append("[an image, shown after the tool results]")
        else:
            texts.append(part.text)  # type: ignore[union-attr]
    return "\n".join(texts), images


def _image(part: InputImage) -> dict[str, Any]:
    image: dict[str, Any] = {"url": part.image_url}
    if part.detail in ("low", "high", "auto"):
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}
