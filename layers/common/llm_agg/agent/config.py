"""The agent's bounds and where the server may touch files, read once from the environment.

``LLM_AGG_AGENT_ROOTS`` (paths separated by ``os.pathsep``) lists the directories under which
the server runs file tools itself. Unset, only an open local server (loopback, no keys) may use
any directory it can see: a server that requires gateway keys serves remote clients, and a key
grants chat, not the server's disk, so there (and on Lambda) no directory is reachable unless
the variable names it. A project elsewhere gets its file tools run by the client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llm_agg.settings import positive

DAY = 86_400.0


def _roots(environ: Mapping[str, str], keyed: bool) -> tuple[Path, ...] | None:
    raw = environ.get("LLM_AGG_AGENT_ROOTS")
    if raw is None:
        # On Lambda the server's disk is not the user's project, and a keyed server's callers
        # are not its owner: nothing is reachable there unless the operator says where.
        return () if keyed or environ.get("AWS_LAMBDA_FUNCTION_NAME") else None
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
    def from_env(cls, environ: Mapping[str, str], keyed: bool = False) -> AgentConfig:
        """``keyed``: the server requires gateway keys (so its clients may be remote)."""
        d = cls()
        return cls(
            max_steps=int(positive(environ, "LLM_AGG_AGENT_MAX_STEPS", d.max_steps)),
            token_budget=int(positive(environ, "LLM_AGG_AGENT_TOKEN_BUDGET", d.token_budget)),
            wall_seconds=positive(environ, "LLM_AGG_AGENT_WALL_SECONDS", d.wall_seconds),
            thread_ttl=positive(environ, "LLM_AGG_AGENT_THREAD_TTL_DAYS", d.thread_ttl / DAY) * DAY,
            roots=_roots(environ, keyed),
        )


def unrestricted_warning(config: AgentConfig) -> str | None:
    """What ``serve`` says at start when the agent's file tools may touch any directory."""
    if config.roots is None:
        return (
            "the agent's file tools may read and write any directory this user can "
            "(set LLM_AGG_AGENT_ROOTS to the folders they may use)"
        )
    if any(Path(os.path.realpath(root)) == Path("/") for root in config.roots):
        return "LLM_AGG_AGENT_ROOTS includes '/': the agent's file tools may use the whole disk"
    return None
