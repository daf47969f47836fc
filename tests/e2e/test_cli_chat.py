"""`llm-agg chat` and `llm-agg models` against a real gateway."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.harness import BIN, FakeUpstream, Process

pytestmark = pytest.mark.e2e


def llm_agg(gateway: Process, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "llm-agg"), *args, "--url", gateway.url],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_one_message_prints_the_answer_and_who_served_it(gateway: Process) -> None:
    done = llm_agg(gateway, "chat", "--message", "What is machine learning?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello from groq: What is machine learning?"
    assert "[groq/fake-model, attempts: 1]" in done.stderr


def test_streamed_message_with_forced_provider(gateway: Process) -> None:
    done = llm_agg(
        gateway,
        "chat",
        "-m",
        "Explain AI",
        "--stream",
        "--model",
        "fake-model",
        "--provider",
        "cerebras",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello from cerebras: Explain AI"
    assert "cerebras/fake-model" in done.stderr


def test_interactive_chat_keeps_the_conversation(gateway: Process) -> None:
    done = llm_agg(gateway, "chat", stdin="first\nsecond\nexit\n")
    assert done.returncode == 0, done.stderr
    assert "Hello from groq: first" in done.stdout and "Hello from groq: second" in done.stdout


def test_interactive_chat_reports_an_upstream_error_and_goes_on(
    gateway: Process, fake: FakeUpstream
) -> None:
    refused = {"status": 400, "body": {"error": {"message": "scripted refusal"}}}
    fake.queue("groq", {}, refused)  # the first turn is answered, the second refused
    stdin = "first\nsecond\nthird\nexit\n"
    done = llm_agg(gateway, "chat", "--provider", "groq", "--model", "fake-model", stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert "error: scripted refusal" in done.stderr and "Traceback" not in done.stderr
    assert "Hello from groq: third" in done.stdout
    last = fake.received()[-1]["body"]["messages"]
    assert [m["content"] for m in last] == ["first", "Hello from groq: first", "third"]


def test_errors_are_said_plainly_with_a_failing_exit_code(gateway: Process) -> None:
    done = llm_agg(gateway, "chat", "-m", "hi", "--model", "no-such-model")
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "HTTP 404" in done.stderr


def test_models_prints_a_table(gateway: Process) -> None:
    done = llm_agg(gateway, "models")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["PROVIDER", "MODEL", "CONTEXT", "CAPABILITIES", "FREE", "STATUS"]
    assert ["groq", "fake-model", "8192", "json,tools", "yes", "ready"] in [
        line.split() for line in lines
    ]


def test_serve_refuses_a_broken_catalog_before_listening(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "providers.yaml"
    bad.write_text("providers:\n  groq:\n    models:\n      - {id: x, quality: 9}\n")
    done = subprocess.run(
        [str(BIN / "llm-agg"), "serve", "--port", "1"],
        env={"LLM_AGG_CONFIG": str(bad), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "providers.groq.models[0].quality" in done.stderr
