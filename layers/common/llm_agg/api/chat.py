"""The chat request as the gateway reads it: validated once, forwarded as the client sent it.

Only the fields the gateway acts on are modelled; anything else stays in the raw body and
passes through to OpenAI-compatible upstreams untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_agg.api.validation import invalid_request, json_object
from llm_agg.api.wire import MAX_ID, WireId
from llm_agg.memo import Memo

ModelQuality = Literal["fastest", "balanced", "best_quality"]
M = TypeVar("M", bound=BaseModel)


class _Open(BaseModel):
    # Strict: the raw body is what is forwarded, so a value must already be what it claims
    # ("stream": "yes" is not true; coerced here, the provider would get the string).
    model_config = ConfigDict(extra="allow", strict=True)


class FunctionCall(_Open):
    name: str
    arguments: str


class ToolCall(_Open):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ImageURL(_Open):
    url: str


class TextPart(_Open):
    type: Literal["text"]
    text: str


class ImagePart(_Open):
    type: Literal["image_url"]
    image_url: ImageURL


class OtherPart(_Open):
    type: Literal["input_audio", "file", "refusal"]


ContentPart = Annotated[TextPart | ImagePart | OtherPart, Field(discriminator="type")]


class Message(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDef(_Open):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Open):
    type: Literal["function"]
    function: FunctionDef


class NamedToolChoice(_Open):
    type: Literal["function"]
    function: dict[str, str]


class ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class StreamOptions(_Open):
    include_usage: bool | None = None


class ChatRequest(_Open):
    model: WireId  # it comes back in the x-llm-agg-model header
    messages: Annotated[list[Message], Field(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    # Gateway extensions, never forwarded.
    provider: WireId | None = None
    model_quality: ModelQuality | None = None


GATEWAY_FIELDS = frozenset({"provider", "model_quality"})


@dataclass(frozen=True, slots=True)
class Needs:
    """What a request asks of a model, read from its content."""

    tools: bool
    vision: bool
    json: bool


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A validated request: the raw body to forward and the facts routing needs."""

    body: dict[str, Any]
    request: ChatRequest
    # What routing.classify measured of the prompt (estimated tokens, last user text): the
    # router, the key's token hold and the dispatcher all read it, so it is measured once.
    # A slot, not a pydantic private attribute on the request: reading one of those goes
    # through BaseModel.__getattr__ (1.7 µs, four times the measuring of a one-line prompt).
    measured: tuple[int, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def stream(self) -> bool:
        return bool(self.request.stream)

    @property
    def include_usage(self) -> bool:
        options = self.request.stream_options
        return bool(options and options.include_usage)

    @property
    def needs(self) -> Needs:
        req = self.request
        vision = any(
            isinstance(part, ImagePart)
            for message in req.messages
            if isinstance(message.content, list)
            for part in message.content
        )
        fmt = req.response_format
        return Needs(
            tools=bool(req.tools),
            vision=vision,
            json=fmt is not None and fmt.type != "text",
        )


# ``ChatRequest.model_validate`` less its Python wrapper, which only checks and passes on
# options these calls never give.
_VALIDATE: Callable[[Any], ChatRequest] = ChatRequest.__pydantic_validator__.validate_python


# A message's framing (its role, the separators) in the prompt's estimate, in characters.
MESSAGE_FRAMING = 16


def parse_chat(raw: bytes) -> ChatCall:
    """Parse and validate a chat body, or raise ``InvalidRequest`` saying what is wrong."""
    body = json_object(raw)
    measured: tuple[int, str] | None = None
    plain = _plain(body)
    if plain is not None:
        request, measured = plain
    else:
        try:
            request = _VALIDATE(body)
        except ValidationError as exc:
            raise invalid_request(exc) from None
    # ``ChatCall(body, request)`` without its generated ``__init__``: one function less on
    # every request's way (tests/unit/test_chat_plain.py holds the two alike).
    call: ChatCall = _new(ChatCall)
    _set(call, "body", body)
    _set(call, "request", request)
    _set(call, "measured", measured)
    return call


# The plain request most clients send (a model, text messages, a few scalars) is checked and
# built here rather than by the validator: on a worker's vCPU come back cold after a stream,
# the validator's walk of ChatRequest's 25 fields and Message's 5 cost ~45-70 µs against ~30
# for this (issue 17; warm they are alike, ~2.5 µs). It only ever accepts: a body it is not
# sure of goes to the validator, so every 400 is the validator's, word for word; what it
# builds is what the validator would (``tests/unit/test_chat_plain.py`` holds them equal).
_ROLES = frozenset(get_args(Message.model_fields["role"].annotation))
_UNSET: dict[str, Any] = dict.fromkeys(ChatRequest.model_fields)  # in the fields' order
_MESSAGE_UNSET: dict[str, Any] = dict.fromkeys(Message.model_fields)
_PLAIN_MESSAGES = 16  # more than this (a long conversation): the validator's loop is faster
# Model ids found printable, within MAX_ID and without a space: the next request naming one
# is looked up, where ``isprintable`` read the Unicode tables (~6 µs of a cold request, issue
# 17; its string is hashed for the router's lookups all the same). Bounded: clients name
# models freely.
_PLAIN_IDS: Memo[str, None] = Memo(1024)
# The float fields' bounds. An int is taken too (``"temperature": 0``, as JavaScript and the
# openai SDK write it), made a float as the validator makes it.
_BOUNDED = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}
_new = object.__new__
_set = object.__setattr__


def _plain(body: dict[str, Any]) -> tuple[ChatRequest, tuple[int, str]] | None:
    """``body`` as the validator would make it, when it is plainly valid: a printable model
    id, 1-16 messages each of a role and a text content only, and of the other fields only
    what the openai SDK sends when asked: ``stream`` (a bool), ``stream_options`` (at most
    ``include_usage``, a bool), ``max_tokens``/``max_completion_tokens`` (an int of 1 or more),
    ``n`` (1-128), ``seed`` (an int), ``user`` (a string) and ``temperature``, ``top_p`` and
    the penalties (a number within bounds); otherwise None, for the validator to judge.
    With it, what ``routing.classify.measure`` would measure of it (estimated prompt tokens,
    the last user text), counted in the loop that checks the messages: measured from the
    request later, on a vCPU come back cold after a stream, it was ~20 µs of attribute reads
    on the pydantic objects (issue 17; tests/unit/test_chat_plain.py holds the two alike)."""
    model = body.get("model")
    messages = body.get("messages")
    if (
        type(model) is not str
        or type(messages) is not list
        or not 0 < len(messages) <= _PLAIN_MESSAGES
    ):
        return None
    if model not in _PLAIN_IDS:
        if not 0 < len(model) <= MAX_ID or not (model.isascii() and model.isprintable()):
            return None
        if " " in model:
            return None
        _PLAIN_IDS.keep(model, None)
    fields = dict(_UNSET)
    fields.update(body)
    for key, value in body.items():
        if key == "model" or key == "messages":
            continue
        kind = type(value)
        if key == "stream":
            if kind is not bool:
                return None
        elif key == "max_tokens" or key == "max_completion_tokens":
            if kind is not int or value < 1:
                return None
        elif key in _BOUNDED:
            low, high = _BOUNDED[key]
            if (kind is not float and kind is not int) or not low <= value <= high:
                return None
            if kind is int:
                fields[key] = float(value)
        elif key == "stream_options":
            if kind is not dict or not value.keys() <= {"include_usage"}:
                return None
            usage = value.get("include_usage")
            if usage is not None and type(usage) is not bool:
                return None
            fields[key] = _built(StreamOptions, {"include_usage": usage}, set(value))
        elif key == "n":
            if kind is not int or not 1 <= value <= 128:
                return None
        elif key == "seed":
            if kind is not int:
                return None
        elif key != "user" or kind is not str:
            return None
    made = []
    chars = 0
    last_user = ""
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return None
        role = message.get("role")
        content = message.get("content")
        if type(role) is not str or role not in _ROLES or type(content) is not str:
            return None
        text = {**_MESSAGE_UNSET, "role": role, "content": content}  # the fields' order kept
        made.append(_built(Message, text, {"role", "content"}))
        chars += len(content) + MESSAGE_FRAMING
        if role == "user":
            last_user = content
    fields["messages"] = made
    # Text messages only, no tools: no image, tool call or schema to count.
    return _built(ChatRequest, fields, set(body)), (chars // 4, last_user)


def _built(model: type[M], fields: dict[str, Any], given: set[str]) -> M:
    """An instance of ``model`` holding ``fields``, as its validator leaves one (and as
    ``model_construct`` does, without its walk of the fields): ``given`` were in the body, no
    extra fields, no private attributes."""
    made: M = _new(model)
    _set(made, "__dict__", fields)
    _set(made, "__pydantic_fields_set__", given)
    _set(made, "__pydantic_extra__", {})
    _set(made, "__pydantic_private__", None)
    return made


def chat_call(body: dict[str, Any]) -> ChatCall:
    """A chat body the gateway built itself (from a Messages or Responses request), validated
    as ``parse_chat`` validates a client's: the dict as it is, not written out as JSON and read
    back, which cost as much again as the validation on a coding agent's request."""
    try:
        return ChatCall(body, _VALIDATE(body))
    except ValidationError as exc:
        raise invalid_request(exc) from None
