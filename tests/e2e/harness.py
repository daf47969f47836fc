"""Real processes on loopback ports: the fake upstream and `llm-agg serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def start(
    args: list[str], port: int, ready_path: str, log: Path, env: Mapping[str, str] | None = None
) -> Process:
    """Start ``args`` and wait until ``ready_path`` answers; fail with its output if it won't."""
    full_env = {**os.environ, **(env or {})}
    handle = log.open("wb")
    popen = subprocess.Popen(args, env=full_env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    process = Process(popen, url, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{args[0]} exited early:\n{process.output()}")
        try:
            if httpx.get(url + ready_path, timeout=1).status_code < 500:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{args[0]} did not become ready:\n{process.output()}")


class FakeUpstream:
    """Control of tests/fakes/fake_upstream.py."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.url = process.url

    def base_url(self, provider: str) -> str:
        return f"{self.url}/{provider}/v1"

    def provider_env(self, tag: str) -> dict[str, str]:
        """Groq and Cerebras both played by this fake, with keys named by ``tag``."""
        return {
            "GROQ_API_KEY": f"gsk_{tag}_0001",
            "GROQ_BASE_URL": self.base_url("groq"),
            "CEREBRAS_API_KEY": f"csk_{tag}_0002",
            "CEREBRAS_BASE_URL": self.base_url("cerebras"),
        }

    def queue(self, provider: str, *answers: dict[str, Any], **options: Any) -> None:
        httpx.post(f"{self.url}/_control/{provider}", json={"answers": list(answers), **options})

    def queue_models(self, provider: str, *answers: dict[str, Any]) -> None:
        """Scripted answers of ``GET /{provider}/v1/models`` (what a key check asks)."""
        httpx.post(f"{self.url}/_control/{provider}", json={"models": list(answers)})

    def received(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = httpx.get(f"{self.url}/_control").json()["requests"]
        return data

    def disconnects(self) -> int:
        count: int = httpx.get(f"{self.url}/_control").json()["disconnects"]
        return count

    def reset(self) -> None:
        httpx.delete(f"{self.url}/_control")


def start_fake_upstream(tmp: Path) -> FakeUpstream:
    port = free_port()
    script = str(ROOT / "tests/fakes/fake_upstream.py")
    args = [sys.executable, script, "--port", str(port)]
    return FakeUpstream(start(args, port, "/_control", tmp / "fake-upstream.log"))


class NativeFake:
    """Control of tests/fakes/fake_native.py (a fake Anthropic and Cohere)."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.url = process.url

    def play(self, provider: str, *fixtures: str) -> None:
        answers = [{"fixture": name} for name in fixtures]
        httpx.post(f"{self.url}/_control/{provider}", json={"answers": answers}).raise_for_status()

    def received(self, provider: str) -> list[dict[str, Any]]:
        requests = httpx.get(f"{self.url}/_control").json()["requests"]
        return [r for r in requests if r["provider"] == provider and r["body"] is not None]

    def reset(self) -> None:
        httpx.delete(f"{self.url}/_control").raise_for_status()


def start_native_fake(tmp: Path) -> NativeFake:
    port = free_port()
    args = [sys.executable, "-m", "tests.fakes.fake_native", "--port", str(port)]
    return NativeFake(start(args, port, "/_control", tmp / "fake-native.log"))


NO_OLLAMA = "http://127.0.0.1:9/v1"  # nothing listens there


def start_gateway(tmp: Path, env: Mapping[str, str], *extra: str) -> Process:
    port = free_port()
    data_dir = tmp / f"data-{port}"
    base_env = {
        "LLM_AGG_DATA_DIR": str(data_dir),
        "LLM_AGG_CONFIG": str(ROOT / "tests/e2e/providers.yaml"),
        # An Ollama the developer runs must not join a test's gateway.
        "OLLAMA_BASE_URL": NO_OLLAMA,
    }
    # Provider keys of the developer's shell must not leak into a test's gateway.
    clean = {k: "" for k in os.environ if k.endswith(("_API_KEY", "_BASE_URL"))}
    args = [str(BIN / "llm-agg"), "serve", "--port", str(port), "--log-level", "warning", *extra]
    return start(args, port, "/health", tmp / f"gateway-{port}.log", {**clean, **base_env, **env})
