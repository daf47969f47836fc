"""The coding agent's wire format: ``/v1/agents/code/invoke`` and ``/v1/agents/resume``.

These shapes are a public contract (the VS Code extension and other clients speak them).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from llm_agg.api.chat import ModelQuality
from llm_agg.api.wire import WireId

AgentStatus = Literal[
    "completed", "requires_human_input", "requires_client_tools", "in_progress", "error"
]
_Text = Annotated[str, Field(max_length=1_000_000)]

# A client may name a new thread itself: the id becomes a store key and appears in URLs and
# logs, so it is kept to characters that need no escaping anywhere.
_THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def _thread_id(value: str) -> str:
    if not _THREAD_ID.fullmatch(value):
        raise ValueError(
            "a thread id is 1 to 128 letters, digits, '.', '_', ':' or '-', "
            "beginning with a letter or digit"
        )
    return value


ThreadId = Annotated[str, AfterValidator(_thread_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CodeAgentRequest(_Strict):
    instruction: Annotated[str, Field(min_length=1, max_length=200_000)]
    context: _Text | None = None
    language: Annotated[str, Field(max_length=64)] | None = None
    project_directory: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    thread_id: ThreadId | None = None
    model_quality: ModelQuality | None = None
    provider: WireId | None = None
    model: WireId | None = None
    confirm_writes: bool = False

    @field_validator("instruction")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the instruction is empty")
        return value


class ToolResult(_Strict):
    tool_call_id: Annotated[str, Field(min_length=1)]
    output: Any  # text, or any JSON value (sent to the model as JSON text)

    def text(self) -> str:
        return self.output if isinstance(self.output, str) else orjson.dumps(self.output).decode()


class ResumeAgentRequest(_Strict):
    thread_id: ThreadId
    tool_call_id: Annotated[str, Field(min_length=1)] | None = None
    human_response: _Text | None = None
    tool_results: Annotated[list[ToolResult], Field(min_length=1, max_length=64)] | None = None


class HumanInputRequest(BaseModel):
    tool_call_id: str
    question_for_human: str


class CodeAgentResponse(BaseModel):
    generated_code: str | None
    explanation: str | None
    agent_status: AgentStatus
    human_input_request: HumanInputRequest | None
    pending_tool_calls: list[dict[str, Any]] | None  # OpenAI tool calls: {id, type, function}
    request_params: dict[str, Any]
    model_used: str | None
    error_details: str | None
    thread_id: str
