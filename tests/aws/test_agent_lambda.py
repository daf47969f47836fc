"""The agent function started as the Lambda Web Adapter starts it (``run.sh``), with its tables
in a moto server: a Lambda has no project folder, so the client runs the file tools, and the
thread waits in the runtime table, where another execution environment resumes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.aws import stack
from tests.aws.conftest import (
    REGION,
    STORED_KEY,
    MotoServer,
    request_lines,
    start_function,
)
from tests.e2e.harness import FakeUpstream, Process
from tests.functional.agent.support import call, sent_messages, submit

INVOKE = "/v1/agents/code/invoke"
RESUME = "/v1/agents/resume"
FIXED = "def greet():\n    return 'hello'\n"


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agent")


@pytest.fixture(scope="module")
def agent_lambda(
    log_dir: Path, upstream: FakeUpstream, moto_server: MotoServer, gateway_key: str
) -> Iterator[Process]:
    process = start_function("AgentFunction", log_dir, upstream, moto_server)
    yield process
    process.stop()


def _post(process: Process, path: str, key: str, body: dict[str, Any]) -> httpx.Response:
    context = {"request_id": f"agent-{path.rsplit('/', 1)[-1]}", "deadline": 1795636382121}
    headers = {
        "authorization": f"Bearer {key}",
        "x-amzn-lambda-context": json.dumps(context),
        "x-amzn-request-context": json.dumps({"requestId": "apigw-agent-1"}),
    }
    return httpx.post(process.url + path, json=body, headers=headers, timeout=30)


def test_agent_function_answers_its_readiness_path_without_running_the_agent(
    agent_lambda: Process, upstream: FakeUpstream
) -> None:
    upstream.reset()
    variables = stack.properties("AgentFunction")["Environment"]["Variables"]
    response = httpx.get(agent_lambda.url + variables["AWS_LWA_READINESS_CHECK_PATH"], timeout=5)
    assert response.status_code == 405  # the adapter's healthy range is 100-499
    assert upstream.received() == []


def test_a_thread_paused_for_client_tools_resumes_in_another_execution_environment(
    agent_lambda: Process,
    log_dir: Path,
    upstream: FakeUpstream,
    moto_server: MotoServer,
    gateway_key: str,
) -> None:
    upstream.reset()
    upstream.queue("groq", call("read_file", {"path": "greet.py"}), submit(FIXED, "typo fixed"))
    body = {"instruction": "Fix the typo", "project_directory": "/home/dev/project"}
    paused = _post(agent_lambda, INVOKE, gateway_key, body)

    assert paused.status_code == 200, paused.text
    state = paused.json()
    assert state["agent_status"] == "requires_client_tools"  # no roots on Lambda
    [pending] = state["pending_tool_calls"]
    assert pending["function"]["name"] == "read_file"
    # The thread waits in the template's runtime table, with its expiry for TTL.
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server.endpoint)
    table = stack.deployed_names()["RuntimeTable"]
    items = dynamodb.scan(TableName=table)["Items"]
    waiting = [i for i in items if i["pk"]["S"].startswith("checkpoint#")]
    assert len(waiting) == 1 and "expires_at" in waiting[0]

    # A new execution environment (the first may be gone) picks the thread up.
    other = start_function("AgentFunction", log_dir, upstream, moto_server)
    try:
        results = [{"tool_call_id": pending["id"], "output": "def greet():\n    return 'helo'\n"}]
        resume = {"thread_id": state["thread_id"], "tool_results": results}
        done = _post(other, RESUME, gateway_key, resume)
    finally:
        other.stop()

    assert done.status_code == 200, done.text
    finished = done.json()
    assert finished["agent_status"] == "completed"
    assert finished["generated_code"] == FIXED
    assert sent_messages(upstream)[-1][-1]["content"].endswith("'helo'\n")
    # The model was reached with the account the admin function stored.
    assert upstream.received()[-1]["headers"]["authorization"] == f"Bearer {STORED_KEY}"


def test_agent_function_logs_its_requests_under_its_own_service(
    agent_lambda: Process, gateway_key: str
) -> None:
    refused = _post(agent_lambda, INVOKE, "sk-llmagg-not-a-key", {"instruction": "x"})
    assert refused.status_code == 401

    requests = request_lines(agent_lambda, INVOKE, status=401)
    assert requests, agent_lambda.output()
    assert {line["service"] for line in requests} == {"agent"}
    assert requests[-1]["function_request_id"] == "agent-invoke"
    assert requests[-1]["correlation_id"] == "apigw-agent-1"
    assert requests[-1]["status"] == 401
    assert gateway_key not in agent_lambda.output()
