"""The agent loop: ask the model, answer every tool call it makes, ask again, until it is done.

Every call of a model message is answered before the next model call. Calls are taken in the
order the model made them: server tools run at once, a call the client or the human must answer
pauses the thread (server calls after it wait their turn), and the answer arrives with a resume.
Bounds end a run with a clear state instead of running on: the step limit, the token budget and
the stuck detector end the instruction (``error``), the wall-clock budget pauses it
(``in_progress``), and a provider failure leaves it resumable (``error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from llm_agg.agent.config import AgentConfig
from llm_agg.agent.model import Reply
from llm_agg.agent.prompt import split_answer
from llm_agg.agent.sandbox import SandboxError
from llm_agg.agent.state import Failure, Pending, PendingKind, ThreadState
from llm_agg.agent.tools import ToolArgumentError, ToolContext, ToolRegistry, ToolSpec
from llm_agg.agent.toolset import FINISH
from llm_agg.api.errors import Conflict, GatewayError, InvalidRequest

ChatFn = Callable[[list[dict[str, Any]], list[dict[str, Any]]], Awaitable[Reply]]

STUCK_AFTER = 3
APPROVALS = frozenset({"y", "yes", "ok", "okay", "approve", "approved", "allow", "accept"})
_DIFF_CHARS = 8000


def truncate(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and its tail."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[-tail:]}"


def approved(answer: str) -> bool:
    first = re.match(r"\W*(\w+)", answer.lower())
    return bool(first and first.group(1) in APPROVALS)


def _signature(name: str, arguments: str, result: str) -> str:
    # The same call written with other spacing or key order is the same call.
    with contextlib.suppress(orjson.JSONDecodeError, orjson.JSONEncodeError):
        arguments = orjson.dumps(orjson.loads(arguments), option=orjson.OPT_SORT_KEYS).decode()
    return hashlib.sha256(f"{name}\0{arguments}\0{result}".encode()).hexdigest()[:24]


class Agent:
    def __init__(
        self,
        state: ThreadState,
        registry: ToolRegistry,
        context: ToolContext,
        chat: ChatFn,
        config: AgentConfig,
        confirm_writes: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.registry = registry
        self.context = context
        self.chat = chat
        self.config = config
        self.confirm_writes = confirm_writes
        self.clock = clock

    # --- the loop ------------------------------------------------------------------------

    async def run(self, started: float) -> None:
        """Advance the thread until it finishes, pauses, fails or runs out of time."""
        s = self.state
        while True:
            if await self._advance():
                return
            self._flush()
            if s.finished:
                s.status = "completed"
                return
            if (limit := self._limit()) is not None:
                self._fail(limit)
                return
            if self.clock() - started >= self.config.wall_seconds:
                s.status = "in_progress"
                return
            try:
                reply = await self.chat(s.messages, self.registry.schemas())
            except GatewayError as exc:
                self._fail(
                    Failure(f"The model call failed: {exc.message}", "provider_failed", True)
                )
                return
            s.steps += 1
            s.tokens += reply.tokens
            s.model_used = reply.model
            s.messages.append(reply.message)
            calls = reply.message.get("tool_calls")
            if calls:
                self._take(calls)
            else:
                s.generated_code, s.explanation = split_answer(reply.message["content"] or "")
                s.finished = True

    def _limit(self) -> Failure | None:
        s, c = self.state, self.config
        if s.steps >= c.max_steps:
            return Failure(
                f"The agent reached its step limit ({c.max_steps} model calls) without "
                "finishing. Send a narrower instruction on this thread to go on.",
                "step_limit",
                False,
            )
        if s.tokens >= c.token_budget:
            return Failure(
                f"The agent used its token budget ({s.tokens} of {c.token_budget} tokens) "
                "without finishing.",
                "token_budget",
                False,
            )
        return None

    def _fail(self, failure: Failure) -> None:
        self.state.status, self.state.error = "error", failure

    # --- tool calls ----------------------------------------------------------------------

    def _take(self, calls: list[dict[str, Any]]) -> None:
        """Queue the calls of a model message; invalid ones are answered with the reason."""
        for call in calls:
            name, arguments = call["function"]["name"], call["function"]["arguments"]
            try:
                spec = self.registry.lookup(name)
                parsed = spec.validate(arguments)
            except ToolArgumentError as exc:
                self._answer(call["id"], name, arguments, f"Error: {exc}")
                continue
            kind: PendingKind = "server"
            question = None
            if spec.runs == "human":
                kind, question = "human", str(getattr(parsed, "question", ""))
            elif spec.runs == "client":
                kind = "client"
            elif self.confirm_writes and spec.risk != "low":
                kind = "approval"
            self.state.pending.append(Pending(call["id"], spec.name, arguments, kind, question))

    async def _advance(self) -> bool:
        """Work through the queued calls; True when the run must stop here (pause, stuck)."""
        s = self.state
        while s.pending and s.status != "error":
            head = s.pending[0]
            if head.kind == "server":
                s.pending.pop(0)
                await self._run_server(head)
                continue
            if head.kind == "client":
                s.status = "requires_client_tools"
                return True
            if head.kind == "approval" and head.question is None:
                head.question = await self._approval_question(head)
            s.status = "requires_human_input"
            return True
        return s.status == "error"

    async def _run_server(self, call: Pending) -> None:
        try:
            spec = self.registry.lookup(call.name)
            parsed = spec.validate(call.arguments)
        except ToolArgumentError as exc:
            self._answer(call.id, call.name, call.arguments, f"Error: {exc}")
            return
        if spec.name == FINISH:
            s = self.state
            s.generated_code = str(getattr(parsed, "code", ""))
            s.explanation = str(getattr(parsed, "explanation", ""))
            s.finished = True
            self._answer(call.id, call.name, call.arguments, "Submitted.", count=False)
            return
        result = await spec.run(self.context, parsed)
        self._answer(call.id, call.name, call.arguments, result)

    def _answer(
        self, call_id: str, name: str, arguments: str, result: str, count: bool = True
    ) -> None:
        s = self.state
        s.answered[call_id] = truncate(result, self.config.tool_output_chars)
        if not count:
            return
        key = _signature(name, arguments, result)
        s.repeats[key] = seen = s.repeats.get(key, 0) + 1
        if seen >= STUCK_AFTER:
            self._fail(
                Failure(
                    f"The agent is stuck: it called {name} with the same arguments "
                    f"{seen} times and got the same result each time.",
                    "agent_stuck",
                    False,
                )
            )

    def _flush(self) -> None:
        """Once every call of the last model message has its answer, add them in call order."""
        s = self.state
        last = s.messages[-1] if s.messages else None
        if s.pending or last is None or last.get("role") != "assistant":
            return
        calls = last.get("tool_calls") or []
        if not calls or not all(c["id"] in s.answered for c in calls):
            return
        for c in calls:
            s.messages.append(
                {"role": "tool", "tool_call_id": c["id"], "content": s.answered.pop(c["id"])}
            )
        s.answered.clear()

    def abandon(self, reason: str) -> None:
        """Answer whatever is still open, so the thread can take a new instruction."""
        for call in self.state.pending:
            self.state.answered[call.id] = f"Not run: {reason}"
        self.state.pending.clear()
        last = self.state.messages[-1] if self.state.messages else {}
        for call in last.get("tool_calls") or ():
            self.state.answered.setdefault(call["id"], f"Not run: {reason}")
        self._flush()

    async def _approval_question(self, call: Pending) -> str:
        spec: ToolSpec = self.registry.lookup(call.name)
        parsed = spec.validate(call.arguments)
        path, content = getattr(parsed, "path", None), getattr(parsed, "content", None)
        sandbox = self.context.sandbox
        if not isinstance(path, str) or not isinstance(content, str) or sandbox is None:
            return f"Allow {call.name} with {call.arguments}? Answer 'yes' to allow it."
        try:
            old = await asyncio.to_thread(sandbox.current, path)
        except SandboxError:
            old = None  # the write itself will fail and say why
        diff = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            content.splitlines(keepends=True),
            "/dev/null" if old is None else f"a/{path}",
            f"b/{path}",
        )
        shown = truncate("".join(diff), _DIFF_CHARS)
        verb = "create" if old is None else "change"
        return (
            f"The agent wants to {verb} {path}:\n\n{shown}\n"
            "Answer 'yes' to allow it; any other answer refuses it and is passed to the agent."
        )

    # --- answers from a resume: checked whole before anything changes -------------------

    def accept_human(self, tool_call_id: str, answer: str) -> None:
        s = self.state
        if s.status != "requires_human_input":
            raise Conflict(
                f"The thread is {s.status}, not waiting for a human answer.", code="not_waiting"
            )
        head = s.pending[0]
        if tool_call_id != head.id:
            raise InvalidRequest(
                f"The thread waits for the answer to {head.id!r}, not {tool_call_id!r}.",
                param="tool_call_id",
                code="wrong_tool_call_id",
            )
        s.pending.pop(0)
        if head.kind != "approval":
            self._answer(head.id, head.name, head.arguments, answer, count=False)
        elif approved(answer):
            s.pending.insert(0, Pending(head.id, head.name, head.arguments, "server"))
        else:
            refusal = f"The user did not allow this. Their answer: {answer}"
            self._answer(head.id, head.name, head.arguments, refusal, count=False)

    def accept_results(self, results: Sequence[tuple[str, str]]) -> None:
        s = self.state
        if s.status != "requires_client_tools":
            raise Conflict(
                f"The thread is {s.status}, not waiting for client tool results.",
                code="not_waiting",
            )
        group = self.client_group()
        wanted = [call.id for call in group]
        given = [call_id for call_id, _ in results]
        if len(set(given)) != len(given) or set(given) != set(wanted):
            raise InvalidRequest(
                f"tool_results must answer exactly the pending calls {wanted}; got {given}.",
                param="tool_results",
                code="wrong_tool_call_id",
            )
        outputs = dict(results)
        del s.pending[: len(group)]
        for call in group:
            self._answer(call.id, call.name, call.arguments, outputs[call.id])

    def client_group(self) -> list[Pending]:
        """The client calls at the head of the queue: those the client is asked to run now."""
        group = []
        for call in self.state.pending:
            if call.kind != "client":
                break
            group.append(call)
        return group
