"""The agent's bounds and where the server may touch files, read once from the environment.

``LLM_AGG_AGENT_ROOTS`` (paths separated by ``os.pathsep``) lists the directories under which
the server runs file tools itself. Unset, a local server may use any directory it can see and a
Lambda function none; a project elsewhere gets its file tools run by the client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DAY = 86_400.0


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {raw!r}")
    return value


def _roots(environ: Mapping[str, str]) -> tuple[Path, ...] | None:
    raw = environ.get("LLM_AGG_AGENT_ROOTS")
    if raw is None:
        # On Lambda the server's disk is not the user's project: nothing is reachable.
        return () if environ.get("AWS_LAMBDA_FUNCTION_NAME") else None
    return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip())


@dataclass(frozen=True)
class AgentConfig:
    max_steps: int = 12  # model calls per instruction
    token_budget: int = 200_000  # prompt + completion tokens per instruction
    wall_seconds: float = 300.0  # per request, well below the deployment's 900 s
    thread_ttl: float = 7 * DAY
    tool_output_chars: int = 12_000  # longer tool output keeps its head and tail
    max_file_bytes: int = 512 * 1024
    # None: any directory the server can see; () none; else only under these.
    roots: tuple[Path, ...] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AgentConfig:
        d = cls()
        return cls(
            max_steps=int(_number(environ, "LLM_AGG_AGENT_MAX_STEPS", d.max_steps)),
            token_budget=int(_number(environ, "LLM_AGG_AGENT_TOKEN_BUDGET", d.token_budget)),
            wall_seconds=_number(environ, "LLM_AGG_AGENT_WALL_SECONDS", d.wall_seconds),
            thread_ttl=_number(environ, "LLM_AGG_AGENT_THREAD_TTL_DAYS", d.thread_ttl / DAY) * DAY,
            roots=_roots(environ),
        )
