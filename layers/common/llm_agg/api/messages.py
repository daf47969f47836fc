"""Anthropic's Messages API as the gateway reads it (``POST /v1/messages``), and its errors.

The anthropic SDK's types are the specification. What is translated for other providers is
validated strictly (block types, tool choice, thinking); what only tunes Anthropic's own
service (``cache_control``, ``container``, ``service_tier``, citations) is accepted and left
for the pass-through to Anthropic, dropped on the way to anyone else.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_agg.api.chat import ModelQuality
from llm_agg.api.errors import GatewayError, InvalidRequest
from llm_agg.api.validation import invalid_request, json_object


class _Open(BaseModel):
    # Strict as chat: a value coerced here would be forwarded as the client wrote it.
    model_config = ConfigDict(extra="allow", strict=True)


class TextBlock(_Open):
    type: Literal["text"]
    text: str


class Base64Source(_Open):
    type: Literal["base64"]
    media_type: Annotated[str, Field(min_length=1)]
    data: str


class URLSource(_Open):
    type: Literal["url"]
    url: Annotated[str, Field(min_length=1)]


class ImageBlock(_Open):
    type: Literal["image"]
    source: Annotated[Base64Source | URLSource, Field(discriminator="type")]


class ToolUseBlock(_Open):
    type: Literal["tool_use"]
    id: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    input: dict[str, Any]


ResultPart = Annotated[TextBlock | ImageBlock, Field(discriminator="type")]


class ToolResultBlock(_Open):
    type: Literal["tool_result"]
    tool_use_id: Annotated[str, Field(min_length=1)]
    content: str | list[ResultPart] | None = None
    is_error: bool | None = None


class ThinkingBlock(_Open):
    """An earlier turn's reasoning: only Anthropic can read its signature, so it goes only
    there (pass-through) and is dropped for everyone else."""

    type: Literal["thinking", "redacted_thinking"]


# Blocks the Messages API knows that have no counterpart in an OpenAI-format conversation:
# refused with a 400 that names them, rather than silently losing a document or a search.
UNSERVED_BLOCKS = (
    "document",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "container_upload",
    "mcp_tool_use",
    "mcp_tool_result",
)


class UnservedBlock(_Open):
    type: Literal[UNSERVED_BLOCKS]  # type: ignore[valid-type]


Block = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | UnservedBlock,
    Field(discriminator="type"),
]


class MessageParam(_Open):
    role: Literal["user", "assistant", "system"]
    content: str | list[Block]


class Tool(_Open):
    """A client tool (``type`` absent or ``custom``), or one of Anthropic's typed tools
    (``web_search_20250305``, ``bash_20250124``...), which only Anthropic can serve."""

    name: Annotated[str, Field(min_length=1)]
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoice(_Open):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(_Open):
    type: Literal["enabled", "disabled", "adaptive", "between_tools"]
    budget_tokens: Annotated[int, Field(ge=0)] | None = None
    display: Literal["summarized", "omitted"] | None = None


class OutputFormat(_Open):
    type: Literal["json_schema"]
    schema_: Annotated[dict[str, Any], Field(alias="schema")]


class OutputConfig(_Open):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: OutputFormat | None = None


class Metadata(_Open):
    user_id: str | None = None


class MessagesRequest(_Open):
    model: Annotated[str, Field(min_length=1)]
    messages: list[MessageParam]
    # Required to create a message; count_tokens takes none (``parse_messages`` checks).
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    metadata: Metadata | None = None
    # Gateway extensions, as on /v1/chat/completions; never sent to Anthropic.
    provider: str | None = None
    model_quality: ModelQuality | None = None

    @property
    def thinks(self) -> bool:
        """Whether the client wants reasoning back as thinking blocks."""
        thinking = self.thinking
        return (
            thinking is not None and thinking.type != "disabled" and thinking.display != "omitted"
        )


GATEWAY_FIELDS = ("provider", "model_quality")


def parse_messages(raw: bytes, *, counting: bool = False) -> tuple[dict[str, Any], MessagesRequest]:
    """The body and its validated model, or an ``InvalidRequest`` saying what is wrong."""
    body = json_object(raw)
    try:
        request = MessagesRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid_request(exc) from None
    if not counting and request.max_tokens is None:
        raise InvalidRequest(
            "Invalid 'max_tokens': Missing required parameter.", param="max_tokens"
        )
    return body, request


# Error types of the Messages API (anthropic SDK ``types/shared/error_type.py``) by status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# OpenAI-shaped error types met inside a stream → Anthropic's.
_STREAM_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "rate_limit_error": "rate_limit_error",
    "overloaded_error": "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_object(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def error_body(error: GatewayError) -> bytes:
    """``{"type": "error", "error": {"type", "message"}}``, as Anthropic answers."""
    return error_object(error_type(error.status), error.message)


def stream_error(error: Any) -> tuple[str, str]:
    """(Anthropic error type, message) of an OpenAI-shaped error met inside a stream."""
    error = error if isinstance(error, dict) else {"message": str(error)}
    message = str(error.get("message") or "the stream failed")
    code, kind = error.get("code"), error.get("type")
    mapped = _STREAM_TYPES.get(code if isinstance(code, str) else "") or _STREAM_TYPES.get(
        kind if isinstance(kind, str) else "", "api_error"
    )
    return mapped, message


def error_event(kind: str, message: str) -> bytes:
    """The ``error`` event that ends a Messages stream."""
    return b"event: error\ndata: " + error_object(kind, message) + b"\n\n"
