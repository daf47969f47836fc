"""A real `llm-agg serve` on loopback as a hostile page or client meets it: rebound names,
foreign origins, huge or slow requests. Each is refused cleanly, before any upstream call."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.harness import BIN, ROOT, FakeUpstream, Process, free_port, start_gateway

pytestmark = pytest.mark.e2e
HI = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


def port_of(process: Process) -> int:
    port = urlsplit(process.url).port
    assert port is not None
    return port


def test_the_open_server_answers_no_rebound_name(gateway: Process, fake: FakeUpstream) -> None:
    for host in ("evil.example", f"evil.example:{port_of(gateway)}", "127.0.0.1:1"):
        refused = httpx.post(gateway.url + "/v1/chat/completions", json=HI, headers={"host": host})
        assert refused.status_code == 421
        assert refused.json()["error"]["code"] == "host_not_allowed"
    assert httpx.get(gateway.url + "/health", headers={"host": "evil.example"}).status_code == 421
    assert fake.received() == []
    for name in ("localhost", "127.0.0.1"):
        own = httpx.post(
            gateway.url + "/v1/chat/completions",
            json=HI,
            headers={"host": f"{name}:{port_of(gateway)}"},
        )
        assert own.status_code == 200


def test_the_open_server_refuses_other_pages_but_serves_its_own(
    gateway: Process, fake: FakeUpstream
) -> None:
    url = gateway.url + "/v1/chat/completions"
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
        refused = httpx.post(url, json=HI, headers={"origin": origin})
        assert refused.status_code == 403
        assert set(refused.json()["error"]) == {"message", "type", "param", "code"}
    assert fake.received() == []
    own = httpx.post(url, json=HI, headers={"origin": gateway.url})
    assert own.status_code == 200


def test_the_open_server_warns_that_its_agent_tools_are_unrestricted(gateway: Process) -> None:
    assert "LLM_AGG_AGENT_ROOTS" in gateway.output()


@pytest.fixture(scope="module")
def public(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    env = {**fake.provider_env("e2e_public"), "LLM_AGG_ALLOWED_HOSTS": "gw.example.com"}
    process = start_gateway(e2e_tmp, env, "--require-auth")
    yield process
    process.stop()


def test_a_keyed_server_answers_its_configured_public_names(public: Process) -> None:
    assert httpx.get(public.url + "/health", headers={"host": "gw.example.com"}).status_code == 200
    other = httpx.get(public.url + "/health", headers={"host": "evil.example"})
    assert other.status_code == 421
    assert "LLM_AGG_AGENT_ROOTS" not in public.output()  # no server-side file tools by default


@pytest.mark.parametrize("model", ["groq/fake\r\nx-evil: 1", "groq/模型", "fake\nmodel"])
def test_a_model_id_that_cannot_be_a_header_is_answered_400_not_dropped(
    gateway: Process, fake: FakeUpstream, model: str
) -> None:
    body = {**HI, "model": model}
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "model"
    assert fake.received() == []


@pytest.fixture(scope="module")
def limited(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    env = {
        **fake.provider_env("e2e_limits"),
        "LLM_AGG_HTTP_HEAD_TIMEOUT": "1",
        "LLM_AGG_HTTP_BODY_TIMEOUT": "1.5",
    }
    process = start_gateway(e2e_tmp, env)
    yield process
    process.stop()


def _connect(process: Process) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port_of(process)), timeout=10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the timeout)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _head(process: Process) -> bytes:
    return f"Host: 127.0.0.1:{port_of(process)}\r\n".encode()


def test_a_huge_header_is_refused_431_without_being_read_whole(limited: Process) -> None:
    with _connect(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n" + _head(limited) + b"X-Big: ")
        sent = 0
        with contextlib.suppress(OSError):  # the server closes while we still send
            while sent < 50 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code":"headers_too_large"' in answer
    assert sent < 50 * 1024 * 1024  # cut off early, not read to the end


def test_headers_within_the_bound_are_served(limited: Process) -> None:
    big = httpx.get(limited.url + "/health", headers={"x-big": "a" * 32 * 1024})
    assert big.status_code == 200


@pytest.mark.parametrize("sent", [b"", b"GET /health HTTP/1.1\r\n", b"GET /health HTTP/1.1\r\nHo"])
def test_a_connection_that_sends_its_head_slowly_is_closed_408(
    limited: Process, sent: bytes
) -> None:
    with _connect(limited) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 8


def test_a_connection_that_sends_its_body_slowly_is_closed_408(
    limited: Process, fake: FakeUpstream
) -> None:
    with _connect(limited) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\n"
            + _head(limited)
            + b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model"'
        )
        started = time.monotonic()
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 8
    assert fake.received() == []
    assert "unhandled error" not in limited.output()


def test_serve_refuses_to_start_with_a_short_admin_key(e2e_tmp: Path) -> None:
    env = {**os.environ, "LLM_AGG_DATA_DIR": str(e2e_tmp / "short-key"), "LLM_AGG_ADMIN_KEY": "a"}
    done = subprocess.run(
        [str(BIN / "llm-agg"), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "shorter than 32 characters" in done.stderr


ADMIN = "sk-llmagg-admin-e2e-forwarded-0123456789abcdef"


@pytest.fixture(scope="module")
def proxied(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    process = start_gateway(e2e_tmp, {**fake.provider_env("e2e_fwd"), "LLM_AGG_ADMIN_KEY": ADMIN})
    yield process
    process.stop()


def test_a_proxy_on_this_machine_names_the_client_and_scheme(proxied: Process) -> None:
    """Behind a proxy on 127.0.0.1 (README): wrong admin keys slow down the address it
    forwards, not the proxy's own; and its X-Forwarded-Proto is the scheme pages are judged by."""

    def admin(key: str, sender: str | None) -> int:
        headers = {"authorization": f"Bearer {key}"}
        if sender is not None:
            headers["x-forwarded-for"] = sender
        return httpx.get(proxied.url + "/admin/keys", headers=headers).status_code

    for _ in range(10):
        assert admin("sk-llmagg-admin-wrong-0123456789abcdef012345", "203.0.113.7") == 401
    assert admin(ADMIN, "203.0.113.7") == 429  # that address waits, right key or not
    assert admin(ADMIN, "203.0.113.8") == 200  # another client of the proxy does not
    assert admin(ADMIN, None) == 200  # nor the proxy itself
    page = {"origin": f"https://127.0.0.1:{port_of(proxied)}"}
    health = proxied.url + "/health"
    assert httpx.get(health, headers=page).status_code == 403  # plain http: another origin
    assert httpx.get(health, headers={**page, "x-forwarded-proto": "https"}).status_code == 200
