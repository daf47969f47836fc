"""A thread's state between requests, and its checkpoint encoding (versioned JSON, zlib).

The encoding carries a format number: a checkpoint from an older release is migrated on read,
one from a newer release is refused rather than misread.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

FORMAT = 1

Status = Literal[
    "running",
    "completed",
    "requires_human_input",
    "requires_client_tools",
    "in_progress",
    "error",
]
PendingKind = Literal["server", "client", "human", "approval"]
Files = Literal["server", "client"]


class CheckpointUnreadable(ValueError):
    """The stored bytes are not a checkpoint this release can read."""


@dataclass
class Pending:
    """A tool call of the model's last message that is still to be answered, in call order.

    ``server`` calls wait behind an earlier pause; ``client`` ones are run by the client;
    ``human`` and ``approval`` (a write waiting for consent) are answered by the user.
    """

    id: str
    name: str
    arguments: str
    kind: PendingKind
    question: str | None = None


@dataclass
class Failure:
    message: str
    code: str
    resumable: bool  # a resume may succeed (provider failure) or only a new instruction


@dataclass
class ThreadState:
    thread_id: str
    owner: str
    params: dict[str, Any]  # the latest invoke request, as the client sent it
    messages: list[dict[str, Any]]
    files: Files | None = None
    project_root: str | None = None
    status: Status = "running"
    pending: list[Pending] = field(default_factory=list)
    answered: dict[str, str] = field(default_factory=dict)
    generated_code: str | None = None
    explanation: str | None = None
    finished: bool = False
    error: Failure | None = None
    steps: int = 0
    tokens: int = 0
    repeats: dict[str, int] = field(default_factory=dict)
    model_used: str | None = None
    created_at: float = 0.0
    lease_until: float = 0.0
    version: int = 0  # of the stored checkpoint this state was read from (0: never stored)

    def start_instruction(self) -> None:
        """Bounds and results belong to one instruction; a new one starts them afresh."""
        self.steps = self.tokens = 0
        self.repeats = {}
        self.generated_code = self.explanation = None
        self.finished = False
        self.error = None


def encode(state: ThreadState) -> bytes:
    data = asdict(state)
    del data["version"]  # the store keeps it beside the data
    return zlib.compress(orjson.dumps({"format": FORMAT, **data}), 6)


def decode(data: bytes, version: int) -> ThreadState:
    try:
        raw = orjson.loads(zlib.decompress(data))
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise CheckpointUnreadable(f"the checkpoint is corrupt ({type(exc).__name__})") from None
    found = raw.pop("format", None) if isinstance(raw, dict) else None
    if not isinstance(found, int) or found > FORMAT:
        raise CheckpointUnreadable(
            f"the checkpoint has format {found!r}; this release reads {FORMAT}"
        )
    # Older formats would be migrated here, one step at a time, before construction.
    try:
        pending = [Pending(**p) for p in raw.pop("pending")]
        error = raw.pop("error")
        return ThreadState(
            **raw,
            pending=pending,
            error=Failure(**error) if error else None,
            version=version,
        )
    except (KeyError, TypeError) as exc:
        raise CheckpointUnreadable(f"the checkpoint is incomplete ({exc})") from None
