"""One invoke or resume, from the stored thread to the response.

A request that continues a stored thread first claims it: the thread is written back as
``running`` over the version read, so of two racing requests one runs and the other gets 409
before it has called a model or touched a file. The claim is a lease: a run that died is taken
over once it has expired. Routing errors (unknown model or provider, nothing configured) are
raised before anything is stored; a provider failing later ends the run as a resumable
``error`` with the thread saved as it was after its last good step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from llm_agg.agent.config import AgentConfig
from llm_agg.agent.loop import Agent
from llm_agg.agent.model import RouterModel
from llm_agg.agent.prompt import system_message, user_message
from llm_agg.agent.sandbox import Sandbox, reachable
from llm_agg.agent.state import Failure, Files, ThreadState, decode, encode
from llm_agg.agent.threads import Threads, ThreadTooLarge, new_thread_id
from llm_agg.agent.tools import ToolContext
from llm_agg.agent.toolset import registry_for
from llm_agg.api.agent import (
    CodeAgentRequest,
    CodeAgentResponse,
    HumanInputRequest,
    ResumeAgentRequest,
)
from llm_agg.api.errors import Conflict, InvalidRequest
from llm_agg.runtime import Runtime
from llm_agg.store.base import CheckpointStore

log = logging.getLogger("llm_agg.agent")

LEASE_MARGIN = 60.0


class AgentService:
    def __init__(
        self,
        runtime: Runtime,
        config: AgentConfig,
        checkpoints: CheckpointStore,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.config = config
        self.threads = Threads(checkpoints, config.thread_ttl, clock)
        self.clock = clock
        self.monotonic = monotonic

    # --- the two endpoints -------------------------------------------------------------

    async def invoke(self, request: CodeAgentRequest, owner: str) -> dict[str, Any]:
        started = self.monotonic()
        params = request.model_dump(exclude_unset=True)
        files, root = self._files(request.project_directory)
        first = user_message(request.instruction, request.context, request.language)
        # A thread_id that names no thread yet starts one under that name (the client chose it).
        found = None
        if request.thread_id is not None:
            found = await self.threads.find(request.thread_id, owner)
        if found is None:
            state = ThreadState(
                thread_id=request.thread_id or new_thread_id(),
                owner=owner,
                params=params,
                messages=[system_message(files), first],
                files=files,
                project_root=root,
                created_at=self.clock(),
            )
            agent = self._agent(state)
        else:
            state = found
            self._not_running(state)
            state.params, state.files, state.project_root = params, files, root
            agent = self._agent(state)
            agent.abandon("the user gave a new instruction instead.")
            if state.messages and state.messages[0].get("role") == "system":
                state.messages[0] = system_message(files)
            state.messages.append(first)
        state.start_instruction()
        await self._model(state).check(state.messages, agent.registry.schemas())
        return await self._run(agent, started, claim=state.version > 0)

    async def resume(self, request: ResumeAgentRequest, owner: str) -> dict[str, Any]:
        started = self.monotonic()
        state = await self.threads.load(request.thread_id, owner)
        self._not_running(state)
        agent = self._agent(state)
        human = request.tool_call_id is not None or request.human_response is not None
        if request.tool_results is not None:
            if human:
                raise InvalidRequest(
                    "Send either tool_results, or tool_call_id with human_response; not both."
                )
            agent.accept_results([(r.tool_call_id, r.text()) for r in request.tool_results])
        elif human:
            if request.tool_call_id is None or request.human_response is None:
                missing = "tool_call_id" if request.tool_call_id is None else "human_response"
                raise InvalidRequest(f"Missing required parameter '{missing}'.", param=missing)
            agent.accept_human(request.tool_call_id, request.human_response)
        else:
            if not self._continuable(state):
                # Nothing to run: the thread as it stands, so a client that lost an answer (a
                # timeout, a crash) reads it again instead of being stuck.
                return self._response(agent)
            state.status, state.error = "running", None
        return await self._run(agent, started, claim=True)

    # --- the run -----------------------------------------------------------------------

    async def _run(self, agent: Agent, started: float, claim: bool) -> dict[str, Any]:
        state = agent.state
        if state.status != "error":  # an answer may already have shown the agent stuck
            state.status = "running"
        snapshot = None
        if claim:
            state.lease_until = self.clock() + self.config.wall_seconds
            state.lease_until += self.settings.deadline + LEASE_MARGIN
            await self.threads.save(state)
            snapshot = (encode(state), state.version)
        await agent.run(started)
        state.lease_until = 0.0
        try:
            await self.threads.save(state)
        except ThreadTooLarge as exc:
            if snapshot is not None:  # release the claim, saying why the run was not kept
                kept = decode(*snapshot)
                kept.status, kept.lease_until = "error", 0.0
                kept.error = Failure(exc.message, "thread_too_large", False)
                await self.threads.save(kept)
            raise
        log.info(
            "agent run: thread=%s status=%s steps=%d tokens=%d model=%s",
            state.thread_id,
            state.status,
            state.steps,
            state.tokens,
            state.model_used,
        )
        return self._response(agent)

    def _not_running(self, state: ThreadState) -> None:
        if state.status == "running" and state.lease_until > self.clock():
            raise Conflict(
                f"The thread {state.thread_id!r} is being run by another request.",
                param="thread_id",
                code="thread_busy",
            )

    @staticmethod
    def _continuable(state: ThreadState) -> bool:
        """Whether a resume without an answer has work to do."""
        if state.status in ("in_progress", "running"):  # running here: its lease expired
            return True
        return state.status == "error" and state.error is not None and state.error.resumable

    # --- parts -------------------------------------------------------------------------

    def _files(self, directory: str | None) -> tuple[Files | None, str | None]:
        """Whether file tools run here (and where), on the client, or not at all."""
        if not directory:
            return None, None
        root = reachable(directory, self.config.roots)
        return ("server", root) if root else ("client", None)

    def _model(self, state: ThreadState) -> RouterModel:
        p = state.params
        return RouterModel(
            self.runtime,
            p.get("model"),
            p.get("provider"),
            p.get("model_quality"),
            gateway_key=state.owner,
        )

    def _agent(self, state: ThreadState) -> Agent:
        sandbox = None
        # Checked again on every request: the roots may have changed since the thread began.
        if state.files == "server" and state.project_root:
            root = reachable(state.project_root, self.config.roots)
            sandbox = Sandbox(root, self.config.max_file_bytes) if root else None
        return Agent(
            state,
            registry_for(state.files),
            ToolContext(sandbox),
            self._model(state),
            self.config,
            confirm_writes=bool(state.params.get("confirm_writes")),
            clock=self.monotonic,
        )

    def _response(self, agent: Agent) -> dict[str, Any]:
        s = agent.state
        status = "in_progress" if s.status == "running" else s.status
        human = None
        if status == "requires_human_input":
            head = s.pending[0]
            human = HumanInputRequest(tool_call_id=head.id, question_for_human=head.question or "")
        calls = None
        if status == "requires_client_tools":
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in agent.client_group()
            ]
        explanation = s.explanation
        if status == "in_progress":
            explanation = (
                f"Paused after {s.steps} model calls to stay within the time budget; "
                "resume the thread to continue."
            )
        response = CodeAgentResponse(
            generated_code=s.generated_code if status == "completed" else None,
            explanation=explanation if status in ("completed", "in_progress") else None,
            agent_status=status,
            human_input_request=human,
            pending_tool_calls=calls,
            request_params=s.params,
            model_used=s.model_used,
            error_details=s.error.message if status == "error" and s.error else None,
            thread_id=s.thread_id,
        )
        return response.model_dump(mode="json")
