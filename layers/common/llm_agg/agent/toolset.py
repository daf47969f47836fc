"""The agent's tools: the project's files, a question to the human, and the finish line.

The file tools run on the server when it can reach the project; otherwise the same
declarations are handed to the client (``ToolSpec.on("client")``), which runs them with the
same names and arguments and sends back their output.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from llm_agg.agent.sandbox import Sandbox
from llm_agg.agent.tools import (
    ToolContext,
    ToolError,
    ToolRegistry,
    openhands_tool,
    tool_spec,
)

FINISH = "submit_code"
ASK_HUMAN = "ask_human_for_input"
MAX_LISTED = 500
MAX_MATCHES = 100
MAX_SEARCHED = 5000  # files read by one search: a huge tree is narrowed by the model, not us

Path = Annotated[str, Field(description="A path relative to the project root, '/'-separated.")]
Folder = Annotated[
    str, Field(description="A directory relative to the project root ('.' is the root).")
]


def _sandbox(context: ToolContext) -> Sandbox:
    if context.sandbox is None:
        raise ToolError("No project directory is open on this server.")
    return context.sandbox


@openhands_tool(runs="server", risk="low")
def read_file(context: ToolContext, path: Path) -> str:
    """Read a UTF-8 text file of the project."""
    return _sandbox(context).read_text(path)


@openhands_tool(runs="server", risk="medium")
def write_file(
    context: ToolContext,
    path: Path,
    content: Annotated[str, Field(description="The whole new content of the file.")],
) -> str:
    """Create or replace a text file of the project with the given content (the whole file).
    Missing directories are created."""
    _sandbox(context).write_text(path, content)
    return f"Wrote {len(content)} characters to {path}."


@openhands_tool(runs="server", risk="low")
def list_files(context: ToolContext, path: Folder = ".", recursive: bool = False) -> str:
    """List a directory of the project: directories end with '/', symbolic links with '@'."""
    lines: list[str] = []
    for entry in _sandbox(context).walk(path, recursive):
        if len(lines) == MAX_LISTED:
            lines.append(f"(stopped after {MAX_LISTED} entries: list a subdirectory)")
            break
        lines.append(entry.path + {"dir": "/", "link": "@"}.get(entry.kind, ""))
    return "\n".join(lines) or "(empty directory)"


@openhands_tool(runs="server", risk="low")
def search_files(
    context: ToolContext,
    query: Annotated[str, Field(min_length=1, description="The text to look for (exact).")],
    path: Folder = ".",
) -> str:
    """Find the lines of the project's text files that contain the query; answers
    'path:line: text' per match."""
    sandbox = _sandbox(context)
    matches: list[str] = []
    files = (entry for entry in sandbox.walk(path, recursive=True) if entry.kind == "file")
    for searched, entry in enumerate(files):
        if searched == MAX_SEARCHED:
            matches.append(f"(stopped after {MAX_SEARCHED} files: search a subdirectory)")
            break
        text = sandbox.read_entry(entry)
        for number, line in enumerate((text or "").splitlines(), 1):
            if query in line:
                if len(matches) == MAX_MATCHES:
                    return "\n".join([*matches, f"(stopped after {MAX_MATCHES} matches)"])
                matches.append(f"{entry.path}:{number}: {line.strip()[:200]}")
    return "\n".join(matches) or f"No line contains {query!r}."


@openhands_tool(name=ASK_HUMAN, runs="human", risk="low")
def ask_human_for_input(
    question: Annotated[str, Field(min_length=1, description="The question for the user.")],
) -> str:
    """Ask the user a question and wait for the answer: for a decision only they can make or
    information you cannot find in the project."""
    return question


@openhands_tool(name=FINISH, runs="server", risk="low")
def submit_code(
    code: Annotated[str, Field(description="The final code.")],
    explanation: Annotated[str, Field(description="A short explanation of the code.")] = "",
) -> str:
    """Finish the task: submit the final code and a short explanation. Call this once, last."""
    return "Submitted."


FILE_TOOLS = (read_file, write_file, list_files, search_files)


def registry_for(files: Literal["server", "client"] | None) -> ToolRegistry:
    """The tools of a run: file tools where they can run, if there is a project at all."""
    registry = ToolRegistry([submit_code, ask_human_for_input])
    for tool in FILE_TOOLS if files else ():
        spec = tool_spec(tool)
        registry.add(spec.on(files) if files == "client" else spec)
    return registry
