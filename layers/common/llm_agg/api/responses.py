"""The Responses request (``POST /v1/responses``) as the gateway reads it.

Every field the gateway acts on is typed and checked; a field it does not know is ignored and
never forwarded (the upstream body is built from these models, not relayed). What it cannot
serve is refused by name with a 400: hosted tools (``web_search``, ``local_shell``, …), their
items, ``background`` and server-side ``conversation`` objects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)

from llm_agg.api.chat import ModelQuality
from llm_agg.api.errors import InvalidRequest


class _Open(BaseModel):
    # Clients add fields over time (``id``, ``status``, ``phase`` on items): read, not refused.
    # Strict as chat: a value coerced here would be forwarded as the client wrote it.
    model_config = ConfigDict(extra="allow", strict=True)


# --- content parts ---------------------------------------------------------------------------


class InputText(_Open):
    type: Literal["input_text"]
    text: str


class InputImage(_Open):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["low", "high", "auto", "original"] | None = None


class InputFile(_Open):
    type: Literal["input_file"]


class OutputText(_Open):
    type: Literal["output_text"]
    text: str


class RefusalPart(_Open):
    type: Literal["refusal"]
    refusal: str


Part = Annotated[
    InputText | InputImage | InputFile | OutputText | RefusalPart, Field(discriminator="type")
]
# What a tool's output may hold besides a plain string.
OutputPart = Annotated[InputText | InputImage | InputFile, Field(discriminator="type")]


# --- input items -----------------------------------------------------------------------------


class MessageItem(_Open):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]


class FunctionCallItem(_Open):
    type: Literal["function_call"]
    call_id: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    arguments: str


class FunctionCallOutputItem(_Open):
    type: Literal["function_call_output"]
    call_id: Annotated[str, Field(min_length=1)]
    output: str | list[OutputPart]


class CustomToolCallItem(_Open):
    type: Literal["custom_tool_call"]
    call_id: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    input: str


class CustomToolCallOutputItem(_Open):
    type: Literal["custom_tool_call_output"]
    call_id: Annotated[str, Field(min_length=1)]
    output: str | list[OutputPart]


class ReasoningItem(_Open):
    """Accepted and dropped: no chat-format provider takes a model's earlier reasoning back."""

    type: Literal["reasoning"]


SERVED_ITEMS = (
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
)


def _item_type(value: Any) -> str | None:
    # A message may come without its type (``{"role": "user", "content": "hi"}``).
    if isinstance(value, dict):
        kind = value.get("type", "message")
        return kind if isinstance(kind, str) else None
    return getattr(value, "type", None)


Item = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[CustomToolCallItem, Tag("custom_tool_call")]
    | Annotated[CustomToolCallOutputItem, Tag("custom_tool_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")],
    Discriminator(_item_type),
]


# --- tools -----------------------------------------------------------------------------------


class FunctionTool(_Open):
    type: Literal["function"]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class TextFormat(_Open):
    type: Literal["text"]


class GrammarFormat(_Open):
    type: Literal["grammar"]
    syntax: str
    definition: str


class CustomTool(_Open):
    """A freeform tool: its input is any text (Codex's ``apply_patch``)."""

    type: Literal["custom"]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    format: Annotated[TextFormat | GrammarFormat, Field(discriminator="type")] | None = None


Tool = Annotated[FunctionTool | CustomTool, Field(discriminator="type")]


class NamedChoice(_Open):
    type: Literal["function", "custom"]
    name: Annotated[str, Field(min_length=1)]


# --- the rest --------------------------------------------------------------------------------


class JsonSchemaFormat(_Open):
    type: Literal["json_schema"]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    schema_: Annotated[dict[str, Any], Field(alias="schema")]
    description: str | None = None
    strict: bool | None = None


class JsonObjectFormat(_Open):
    type: Literal["json_object"]


Format = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class TextConfig(_Open):
    format: Format | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningConfig(_Open):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


def _refuse_hosted_tools(value: Any) -> Any:
    for tool in value if isinstance(value, list) else ():
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind not in ("function", "custom"):
            hint = (
                ' (Codex: set web_search = "disabled" in config.toml)'
                if kind == "web_search"
                else ""
            )
            raise ValueError(
                f"tool type {kind!r} is a hosted tool this gateway cannot run; "
                f"only 'function' and 'custom' tools are served{hint}"
            )
    return value


def _refuse_foreign_items(value: Any) -> Any:
    for item in value if isinstance(value, list) else ():
        kind = _item_type(item)
        if isinstance(kind, str) and kind not in SERVED_ITEMS:
            raise ValueError(
                f"input items of type {kind!r} are not served by this gateway; it takes "
                + ", ".join(repr(k) for k in SERVED_ITEMS)
            )
    return value


class ResponsesRequest(_Open):
    model: Annotated[str, Field(min_length=1)]
    input: str | list[Item] | None = None
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    reasoning: ReasoningConfig | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    store: bool | None = None
    previous_response_id: Annotated[str, Field(min_length=1)] | None = None
    stream: bool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    background: Literal[False] | None = None  # no background runs: nothing to poll
    conversation: None = None  # server-side conversations are not kept; use previous_response_id
    # Gateway extensions, as on chat.
    provider: str | None = None
    model_quality: ModelQuality | None = None

    _tools = field_validator("tools", mode="before")(_refuse_hosted_tools)
    _input = field_validator("input", mode="before")(_refuse_foreign_items)

    @property
    def stored(self) -> bool:
        """Whether the response is kept: OpenAI's default is yes."""
        return self.store is not False


# Union members and tags pydantic writes into an error's location ("input.list[…].0.
# function_call.arguments"): left out, so the path reads as the JSON does ("input.0.arguments").
def _readable(part: int | str) -> bool:
    if isinstance(part, int):
        return True
    return "[" not in part and part not in _TAGS and not part[:1].isupper()


_TAGS = frozenset(
    {
        "str",
        "int",
        "float",
        "bool",
        "function",
        "custom",
        "grammar",
        "json_object",
        "json_schema",
        "input_text",
        "input_image",
        "input_file",
        "output_text",
        "refusal",
        *SERVED_ITEMS,
    }
)


def parse_responses(body: dict[str, Any]) -> ResponsesRequest:
    """Validate a Responses body, or raise ``InvalidRequest`` naming the field at fault: the
    most specific of pydantic's errors (a union reports one per member; the deepest is the
    one about what the client meant)."""
    try:
        return ResponsesRequest.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        best = max(errors, key=lambda e: len(e["loc"]))
        path = ".".join(str(p) for p in best["loc"] if _readable(p))
        message = best["msg"].removeprefix("Value error, ")
        if best["type"] == "missing":
            message = "Missing required parameter"
        raise InvalidRequest(f"Invalid '{path}': {message}.", param=path or None) from None
