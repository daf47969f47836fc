"""The coding agent: tools, the sandbox for project files, the loop, and its threads."""

from llm_agg.agent.config import AgentConfig
from llm_agg.agent.sandbox import Sandbox, SandboxError
from llm_agg.agent.tools import (
    ToolArgumentError,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolSpec,
    openhands_tool,
    tool_spec,
)

__all__ = [
    "AgentConfig",
    "Sandbox",
    "SandboxError",
    "ToolArgumentError",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolSpec",
    "openhands_tool",
    "tool_spec",
]
