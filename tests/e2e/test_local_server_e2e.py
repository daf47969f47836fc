"""What a newcomer meets with `llm-agg serve`: its log file, `/` leading to the page, a busy
port, no provider configured, a missing admin key, and output piped into `head`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import BIN, FakeUpstream, Process, start_gateway

pytestmark = pytest.mark.e2e
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR)")
STORED_KEY = "gsk_stored_key_never_in_the_log_5150"


def llm_agg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "llm-agg"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def logged(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    """A gateway logging at debug level to the default file of its data folder."""
    process = start_gateway(e2e_tmp, fake.provider_env("logged"), "--log-level", "debug")
    yield process
    process.stop()


def data_dir(gateway: Process) -> Path:
    return gateway.log.parent / f"data-{gateway.url.rsplit(':', 1)[1]}"


def test_the_server_logs_to_a_file_in_its_data_folder_with_no_secret(
    logged: Process, fake: FakeUpstream
) -> None:
    log_file = data_dir(logged) / "llm_aggregator.log"
    assert f"llm-agg log file: {log_file}" in logged.output()
    admin_key = (data_dir(logged) / "admin.key").read_text().strip()
    admin = {"authorization": f"Bearer {admin_key}"}
    provider_key = fake.provider_env("logged")["GROQ_API_KEY"]
    # A provider that echoes the key it was sent, as real ones do in their 401s.
    echo = {"error": {"message": f"Invalid API Key {provider_key}", "type": "auth"}}
    fake.queue("groq", {"status": 401, "body": echo})
    credential: dict[str, object] = {
        "provider": "cerebras",
        "account_id": "a@example.com",
        "api_key": STORED_KEY,
    }
    added = httpx.post(
        f"{logged.url}/admin/credentials", json={**credential, "verify": False}, headers=admin
    )
    assert added.status_code == 201, added.text
    gateway_key = httpx.post(f"{logged.url}/admin/keys", json={"name": "t"}, headers=admin).json()
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    bearer = {"authorization": f"Bearer {gateway_key['key']}"}
    served = httpx.post(f"{logged.url}/v1/chat/completions", json=body, headers=bearer)
    assert served.status_code == 200, served.text
    wrong = {"authorization": "Bearer sk-llmagg-wrong-key-0000"}
    assert (
        httpx.post(f"{logged.url}/v1/chat/completions", json=body, headers=wrong).status_code == 401
    )

    text = log_file.read_text()
    lines = text.splitlines()
    assert any("Application startup complete" in line for line in lines)
    assert any("groq" in line and "WARNING" in line for line in lines)  # the failed attempt
    assert all(TIMESTAMPED.match(line) for line in lines if line and not line.startswith(" "))
    for secret in (provider_key, STORED_KEY, admin_key, gateway_key["key"], "wrong-key-0000"):
        assert secret not in text

    status = llm_agg("status", "--url", logged.url, env={**_env(logged), "PATH": "/usr/bin:/bin"})
    assert status.returncode == 0, status.stderr
    assert f"log file: {log_file}" in status.stdout


def _env(gateway: Process) -> dict[str, str]:
    return {"LLM_AGG_DATA_DIR": str(data_dir(gateway)), "LLM_AGG_ADMIN_KEY": ""}


def test_the_root_leads_to_the_page(logged: Process) -> None:
    response = httpx.get(logged.url + "/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/ui")
    assert httpx.get(logged.url + "/", follow_redirects=True).headers["content-security-policy"]


def test_serve_on_a_busy_port_says_so_before_serving_on(logged: Process) -> None:
    port = logged.url.rsplit(":", 1)[1]
    done = llm_agg("serve", "--port", port, env={**_env(logged), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "serving on" not in done.stdout
    assert f"error: port {port} on 127.0.0.1 is already in use" in done.stderr


def test_admin_commands_without_the_admin_key_say_how_to_pass_it(logged: Process) -> None:
    for command in ("status", "stats"):
        done = llm_agg(command, "--url", logged.url, "--admin-key", "not-it")
        assert done.returncode == 1
        lines = done.stderr.splitlines()
        assert all(line.startswith("error: ") for line in lines), done.stderr
        assert "(HTTP 401)" in lines[0] and "--admin-key" in lines[1]
        assert "Traceback" not in done.stderr


def test_models_piped_into_a_reader_that_leaves_ends_quietly(logged: Process) -> None:
    reader = subprocess.Popen(
        [str(BIN / "llm-agg"), "models", "--url", logged.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # as `head` does once it has its lines
    errors = reader.stderr.read().decode()
    reader.wait(30)
    assert "Traceback" not in errors and "BrokenPipeError" not in errors
    assert reader.returncode == 141  # as a tool killed by SIGPIPE


def test_a_gateway_without_providers_says_which_variable_to_set(e2e_tmp: Path) -> None:
    moved = e2e_tmp / "elsewhere" / "gateway.log"
    bare = start_gateway(e2e_tmp, {"LLM_AGG_LOG_FILE": str(moved)}, "--log-level", "info")
    try:
        done = llm_agg("models", "--url", bare.url)
        assert done.returncode == 1
        assert done.stderr.startswith("error: no provider is configured")
        assert "GROQ_API_KEY" in done.stderr and "llm-agg configure" in done.stderr
        assert f"llm-agg log file: {moved}" in bare.output()
    finally:
        bare.stop()
    assert "Finished server process" in moved.read_text()
