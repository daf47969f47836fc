"""What the model is told, and how a plain-text answer becomes code and an explanation."""

from __future__ import annotations

import re
from typing import Any

from llm_agg.agent.state import Files
from llm_agg.agent.toolset import ASK_HUMAN, FINISH

_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)

_SYSTEM = """You are a careful coding agent. Do the user's task with the tools you have.
- Work in small steps; read before you change anything.
- When a decision is the user's to make, or you lack information, call {ask}.
- When you are done, call {finish} once with the final code and a short explanation.{files}"""

_FILES = {
    "server": "\n- The project's files are reachable through read_file, write_file, list_files and "
    "search_files; paths are relative to the project root.",
    "client": "\n- The project's files are reachable through read_file, write_file, list_files and "
    "search_files (they run on the user's machine); paths are relative to the project root.",
}


def system_message(files: Files | None) -> dict[str, Any]:
    text = _SYSTEM.format(ask=ASK_HUMAN, finish=FINISH, files=_FILES.get(files or "", ""))
    return {"role": "system", "content": text}


def user_message(instruction: str, context: str | None, language: str | None) -> dict[str, Any]:
    parts = [instruction.strip()]
    if language:
        parts.append(f"Language: {language}.")
    if context:
        parts.append(f"Context:\n```{language or ''}\n{context}\n```")
    return {"role": "user", "content": "\n\n".join(parts)}


def split_answer(text: str) -> tuple[str | None, str]:
    """(code, explanation) of a plain-text answer: the fenced blocks, and the rest."""
    blocks = [block.rstrip("\n") for block in _FENCE.findall(text)]
    rest = _FENCE.sub("", text)
    explanation = re.sub(r"\n{3,}", "\n\n", rest).strip()
    return ("\n\n".join(blocks) if blocks else None), explanation
