"""The streaming functions started as the Lambda Web Adapter starts them: ``run.sh`` with the
function's Lambda environment, on a loopback port, and asked what the adapter forwards."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.aws import stack
from tests.aws.conftest import (
    STORED_KEY,
    MotoServer,
    output_lines,
    request_lines,
    start_function,
)
from tests.e2e.harness import FakeUpstream, Process
from tests.support.responses_stream import parse_events

ROOT = stack.ROOT
LAMBDA_CONTEXT = {
    "request_id": "c6af9ac6-7b61-11e6-9a41-93e812345678",
    "deadline": 1795636382121,
    "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:llm-agg-chat-dev",
    "xray_trace_id": "Root=1-5759e988-bd862e3fe1be46a994272793",
    "env_config": {"function_name": "llm-agg-chat-dev", "memory": 1024},
}
REQUEST_CONTEXT = {"requestId": "9e1f3a2b-api-gateway", "stage": "dev", "httpMethod": "POST"}


def _fake_python(tmp_path: Path) -> Path:
    """A ``python3`` that records how it was started instead of starting anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "python3"
    script.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$PYTHONPATH" "$PYTHONUNBUFFERED" "$@" > "$RECORD"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def test_run_sh_starts_uvicorn_on_the_adapter_port_with_the_layer_on_the_path(
    tmp_path: Path,
) -> None:
    record = tmp_path / "record"
    env = {
        "PATH": f"{_fake_python(tmp_path)}:{os.environ['PATH']}",
        "RECORD": str(record),
        "LAMBDA_TASK_ROOT": str(stack.code_dir("ChatFunction")),
        "AWS_LWA_PORT": "8080",
    }
    subprocess.run([stack.code_dir("ChatFunction") / "run.sh"], env=env, check=True)

    pythonpath, unbuffered, *args = record.read_text().splitlines()
    assert pythonpath == f"/opt/python:{stack.code_dir('ChatFunction')}"
    assert unbuffered == "1"
    assert args[:4] == ["-m", "uvicorn", "chat_function:build_app", "--factory"]
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert args[args.index("--port") + 1] == "8080"


def test_run_sh_refuses_a_folder_without_exactly_one_function_module(tmp_path: Path) -> None:
    task = tmp_path / "task"
    task.mkdir()
    (task / "a_function.py").write_text("")
    (task / "b_function.py").write_text("")
    env = {
        "PATH": f"{_fake_python(tmp_path)}:{os.environ['PATH']}",
        "RECORD": str(tmp_path / "record"),
        "LAMBDA_TASK_ROOT": str(task),
    }
    done = subprocess.run(
        [stack.code_dir("ChatFunction") / "run.sh"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "exactly one *_function.py" in done.stderr
    assert not (tmp_path / "record").exists()


@pytest.fixture(scope="module")
def chat_lambda(
    tmp_path_factory: pytest.TempPathFactory,
    upstream: FakeUpstream,
    moto_server: MotoServer,
    gateway_key: str,
) -> Iterator[Process]:
    process = start_function("ChatFunction", tmp_path_factory.mktemp("chat"), upstream, moto_server)
    yield process
    process.stop()


def test_chat_function_answers_its_readiness_path_at_once(
    chat_lambda: Process, upstream: FakeUpstream
) -> None:
    upstream.reset()
    path = stack.properties("ChatFunction")["Environment"]["Variables"]
    response = httpx.get(chat_lambda.url + path["AWS_LWA_READINESS_CHECK_PATH"], timeout=5)
    # The adapter's default healthy range is 100-499; the check must not reach any provider.
    assert response.status_code == 405
    assert upstream.received() == []


def test_chat_function_streams_each_chunk_as_the_provider_sends_it(
    chat_lambda: Process, upstream: FakeUpstream, gateway_key: str
) -> None:
    upstream.reset()
    upstream.queue("groq", {"delay": 0.15})
    body = {
        "model": "fake-model",
        "stream": True,
        "messages": [{"role": "user", "content": "one two three"}],
    }
    headers = {
        "authorization": f"Bearer {gateway_key}",
        "x-amzn-lambda-context": json.dumps(LAMBDA_CONTEXT),
        "x-amzn-request-context": json.dumps(REQUEST_CONTEXT),
    }
    arrivals: list[tuple[float, bytes]] = []
    with httpx.stream(
        "POST", chat_lambda.url + "/v1/chat/completions", json=body, headers=headers, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-llm-agg-provider"] == "groq"
        for piece in response.iter_raw():
            arrivals.append((time.monotonic(), piece))

    stream = b"".join(piece for _, piece in arrivals).decode()
    events = [line[6:] for line in stream.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(
        (choice["delta"].get("content") or "")
        for event in events[:-1]
        for choice in json.loads(event)["choices"]
    )
    assert text.strip() == "Hello from groq: one two three"
    # The account the admin function sealed, unwrapped by the chat function through KMS.
    assert upstream.received()[-1]["headers"]["authorization"] == f"Bearer {STORED_KEY}"
    # The chunks left the function as they came: spread over the upstream's pauses, not at once.
    assert len(arrivals) >= 4
    assert arrivals[-1][0] - arrivals[0][0] > 0.5


def test_chat_function_logs_the_invocation_ids_and_measures_the_provider(
    chat_lambda: Process, upstream: FakeUpstream, gateway_key: str
) -> None:
    upstream.reset()
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    headers = {
        "authorization": f"Bearer {gateway_key}",
        "x-amzn-lambda-context": json.dumps(LAMBDA_CONTEXT),
        "x-amzn-request-context": json.dumps(REQUEST_CONTEXT),
    }
    response = httpx.post(
        chat_lambda.url + "/v1/chat/completions", json=body, headers=headers, timeout=10
    )
    assert response.status_code == 200

    requests = request_lines(chat_lambda, "/v1/chat/completions")
    lines = output_lines(chat_lambda.output())
    assert requests, chat_lambda.output()
    assert requests[-1]["function_request_id"] == LAMBDA_CONTEXT["request_id"]
    assert requests[-1]["correlation_id"] == REQUEST_CONTEXT["requestId"]
    assert requests[-1]["trace_id"] == LAMBDA_CONTEXT["xray_trace_id"]
    assert requests[-1]["service"] == "chat"
    provider_metrics = [line for line in lines if line.get("provider") == "groq"]
    assert provider_metrics, chat_lambda.output()
    emf = provider_metrics[-1]
    directive = emf["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert sorted(directive["Dimensions"][0]) == ["provider", "service"]
    assert emf["requests"] == [1.0]
    assert emf["errors"] == [0.0]
    assert emf["tokens"] == [18.0]  # the fake upstream's usage: 11 + 7
    # No secret in anything the function wrote.
    assert STORED_KEY not in chat_lambda.output()
    assert gateway_key not in chat_lambda.output()


def test_chat_function_refuses_a_request_without_a_gateway_key(chat_lambda: Process) -> None:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(chat_lambda.url + "/v1/chat/completions", json=body, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_chat_function_serves_claude_codes_messages_stream_with_its_x_api_key(
    chat_lambda: Process, upstream: FakeUpstream, gateway_key: str
) -> None:
    upstream.reset()
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "one two"}],
    }
    headers = {
        "x-api-key": gateway_key,
        "anthropic-version": "2023-06-01",
        "x-amzn-lambda-context": json.dumps(LAMBDA_CONTEXT),
        "x-amzn-request-context": json.dumps(REQUEST_CONTEXT),
    }
    response = httpx.post(chat_lambda.url + "/v1/messages", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["x-llm-agg-provider"] == "groq"
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    counted = httpx.post(
        chat_lambda.url + "/v1/messages/count_tokens",
        json={"model": "claude-sonnet-4-5", "messages": body["messages"]},
        headers={"x-api-key": gateway_key},
        timeout=10,
    )
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
    refused = httpx.post(chat_lambda.url + "/v1/messages", json=body, timeout=10)
    assert refused.status_code == 401
    assert refused.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": refused.json()["error"]["message"]},
    }


def test_chat_function_serves_responses_kept_in_the_runtime_table(
    chat_lambda: Process, upstream: FakeUpstream, gateway_key: str
) -> None:
    upstream.reset()
    auth = {"authorization": f"Bearer {gateway_key}"}
    url = chat_lambda.url + "/v1/responses"
    body = {"model": "fake-model", "input": "hi", "stream": True}
    with httpx.stream("POST", url, json=body, headers=auth, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["x-llm-agg-provider"] == "groq"
        events = parse_events(response.read())
    final = events[-1].response
    assert (final.status, final.output_text) == ("completed", "Hello from groq: hi ")

    # Kept in DynamoDB (the moto server), read back and deleted by the key that made it.
    kept = httpx.get(f"{url}/{final.id}", headers=auth, timeout=10)
    assert kept.status_code == 200 and kept.json()["output_text"] == final.output_text
    assert httpx.get(f"{url}/{final.id}", timeout=10).status_code == 401
    assert httpx.delete(f"{url}/{final.id}", headers=auth, timeout=10).status_code == 200
    assert httpx.get(f"{url}/{final.id}", headers=auth, timeout=10).status_code == 404
    # What Codex's WebSocket attempt gets on Lambda too.
    upgrade = {"connection": "Upgrade", "upgrade": "websocket", **auth}
    assert httpx.get(url, headers=upgrade, timeout=10).status_code == 426
