"""The coding agent through a real `llm-agg serve`, its model a scripted fake on loopback."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import BIN, FakeUpstream, Process, start_gateway
from tests.functional.agent.support import call, calls, sent_messages, submit

pytestmark = pytest.mark.e2e


def agent_env(fake: FakeUpstream, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "GROQ_API_KEY": "gsk_agent_e2e_0001",
        "GROQ_BASE_URL": fake.base_url("groq"),
        "CEREBRAS_API_KEY": "csk_agent_e2e_0002",
        "CEREBRAS_BASE_URL": fake.base_url("cerebras"),
        "LLM_AGG_DATA_DIR": str(data_dir),
        **extra,
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "greet.py").write_text("def greet():\n    return 'helo'\n")
    return root


@pytest.fixture
def served(tmp_path: Path, fake: FakeUpstream) -> Iterator[Process]:
    process = start_gateway(tmp_path, agent_env(fake, tmp_path / "data"))
    yield process
    process.stop()


def post(gateway: Process, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, timeout=30)


def test_the_agent_reads_modifies_and_writes_a_project_on_the_local_server(
    served: Process, fake: FakeUpstream, project: Path
) -> None:
    fixed = "def greet():\n    return 'hello'\n"
    fake.queue(
        "groq",
        call("read_file", {"path": "greet.py"}),
        call("write_file", {"path": "greet.py", "content": fixed}),
        submit(fixed, "typo fixed"),
    )
    body = {"instruction": "Fix the typo", "project_directory": str(project)}
    response = post(served, "/v1/agents/code/invoke", body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["agent_status"] == "completed"
    assert result["generated_code"] == fixed and result["model_used"] == "groq/fake-model"
    assert (project / "greet.py").read_text() == fixed
    assert sent_messages(fake)[1][-1]["content"] == "def greet():\n    return 'helo'\n"


def test_a_paused_thread_survives_a_restart_of_the_server(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    env = agent_env(fake, tmp_path / "kept")
    first = start_gateway(tmp_path, env)
    try:
        fake.queue("groq", call("ask_human_for_input", {"question": "Tabs or spaces?"}))
        paused = post(first, "/v1/agents/code/invoke", {"instruction": "format"}).json()
        assert paused["agent_status"] == "requires_human_input"
    finally:
        first.stop()
    second = start_gateway(tmp_path, env)
    try:
        fake.queue("groq", submit("formatted"))
        answer = {
            "thread_id": paused["thread_id"],
            "tool_call_id": paused["human_input_request"]["tool_call_id"],
            "human_response": "Spaces.",
        }
        done = post(second, "/v1/agents/resume", answer)
        assert done.status_code == 200, done.text
        assert done.json()["agent_status"] == "completed"
        assert sent_messages(fake)[-1][-1]["content"] == "Spaces."
    finally:
        second.stop()


def test_the_client_runs_the_file_tools_when_the_project_is_out_of_the_servers_reach(
    tmp_path: Path, fake: FakeUpstream, project: Path
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    env = agent_env(fake, tmp_path / "d", LLM_AGG_AGENT_ROOTS=str(allowed))
    gateway = start_gateway(tmp_path, env)
    try:
        fake.queue(
            "groq",
            calls(("read_file", {"path": "greet.py"}), ("list_files", {"path": "."})),
            call("write_file", {"path": "greet.py", "content": "X"}),
            submit("X"),
        )
        body = {"instruction": "Fix", "project_directory": str(project)}
        paused = post(gateway, "/v1/agents/code/invoke", body).json()
        assert paused["agent_status"] == "requires_client_tools"
        results = []
        for pending in paused["pending_tool_calls"]:  # the client runs them on its side
            assert pending["type"] == "function"
            name = pending["function"]["name"]
            output = (project / "greet.py").read_text() if name == "read_file" else "greet.py"
            results.append({"tool_call_id": pending["id"], "output": output})
        resume = {"thread_id": paused["thread_id"], "tool_results": results}
        again = post(gateway, "/v1/agents/resume", resume).json()
        assert again["agent_status"] == "requires_client_tools"
        write = again["pending_tool_calls"][0]
        arguments = '{"path":"greet.py","content":"X"}'
        assert write["function"] == {"name": "write_file", "arguments": arguments}
        rejected = [{"tool_call_id": write["id"], "output": "rejected"}]
        resume = {"thread_id": paused["thread_id"], "tool_results": rejected}
        done = post(gateway, "/v1/agents/resume", resume).json()
        assert done["agent_status"] == "completed"
        assert (project / "greet.py").read_text().endswith("'helo'\n")  # the server never wrote
        assert sent_messages(fake)[-1][-1]["content"] == "rejected"
    finally:
        gateway.stop()


def test_two_concurrent_resumes_of_one_pause_get_one_200_and_one_409(
    served: Process, fake: FakeUpstream
) -> None:
    fake.queue("groq", call("ask_human_for_input", {"question": "Name?"}))
    paused = post(served, "/v1/agents/code/invoke", {"instruction": "name"}).json()
    fake.queue("groq", {**submit("a"), "sleep": 0.5}, submit("b"))
    answer = {
        "thread_id": paused["thread_id"],
        "tool_call_id": paused["human_input_request"]["tool_call_id"],
        "human_response": "x",
    }
    statuses: list[int] = []

    def resume() -> None:
        statuses.append(post(served, "/v1/agents/resume", answer).status_code)

    racers = [threading.Thread(target=resume) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(statuses) == [200, 409]


def test_threads_work_on_the_dynamodb_store_path_too(tmp_path: Path, fake: FakeUpstream) -> None:
    """``--store moto``: the DynamoDB code the hosted agent uses, against moto in-process."""
    gateway = start_gateway(tmp_path, agent_env(fake, tmp_path / "m"), "--store", "moto")
    try:
        fake.queue("groq", call("ask_human_for_input", {"question": "Go?"}), submit("went"))
        paused = post(gateway, "/v1/agents/code/invoke", {"instruction": "go"}).json()
        assert paused["agent_status"] == "requires_human_input"
        answer = {
            "thread_id": paused["thread_id"],
            "tool_call_id": paused["human_input_request"]["tool_call_id"],
            "human_response": "yes",
        }
        done = post(gateway, "/v1/agents/resume", answer)
        assert done.status_code == 200, done.text
        assert done.json()["generated_code"] == "went"
        assert post(gateway, "/v1/agents/resume", answer).status_code == 409
    finally:
        gateway.stop()


def test_serve_refuses_a_bad_agent_setting_before_listening(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "llm-agg"), "serve", "--port", "1"],
        env={
            "LLM_AGG_AGENT_WALL_SECONDS": "soon",
            "LLM_AGG_DATA_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: LLM_AGG_AGENT_WALL_SECONDS must be a number, not 'soon'"
