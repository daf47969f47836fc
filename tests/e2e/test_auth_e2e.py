"""Keys end to end: a real `llm-agg serve --require-auth`, accounts added with `llm-agg
configure`, and the official openai SDK refused without a gateway key and served with one."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.harness import BIN, ROOT, FakeUpstream, Process, start_gateway

pytestmark = pytest.mark.e2e
ADMIN_KEY = "sk-llmagg-admin-e2e-6d1f0a93b7c5e2"
STORED = "gsk_stored_by_configure_0003"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def secured(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    env = {
        "GROQ_BASE_URL": fake.base_url("groq"),
        "CEREBRAS_BASE_URL": fake.base_url("cerebras"),
        "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
    }
    process = start_gateway(e2e_tmp, env, "--require-auth")
    yield process
    process.stop()


def sdk(gateway: Process, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def configure(gateway: Process, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "llm-agg"), "configure", "--url", gateway.url, "--admin-key", ADMIN_KEY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_openai_sdk_needs_a_gateway_key_and_uses_the_configured_account(
    secured: Process, fake: FakeUpstream
) -> None:
    added = configure(
        secured, "--provider", "groq", "--account", "a1", "--key-stdin", stdin=STORED + "\n"
    )
    assert added.returncode == 0, added.stderr
    assert "Works: groq accepted the key. Stored groq/a1." in added.stdout

    for wrong in ("unused-on-loopback", "sk-llmagg-made-up"):
        with pytest.raises(openai.AuthenticationError):
            sdk(secured, wrong).chat.completions.create(model="fake-model", messages=HI)

    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    key = httpx.post(secured.url + "/admin/keys", json={"name": "e2e"}, headers=admin).json()["key"]
    reply = sdk(secured, key).chat.completions.create(model="fake-model", messages=HI)
    assert reply.choices[0].message.content == "Hello from groq: hi"
    assert fake.received()[-1]["headers"]["authorization"] == f"Bearer {STORED}"

    forbidden = httpx.get(secured.url + "/admin/keys", headers={"authorization": f"Bearer {key}"})
    assert forbidden.status_code == 403

    listing = configure(secured, "--list")
    assert "gsk_…0003" in listing.stdout and STORED not in listing.stdout
    for secret in (STORED, key, ADMIN_KEY):
        assert secret not in secured.output()


def test_moto_store_serves_stored_accounts_through_the_aws_code_path(
    e2e_tmp: Path, fake: FakeUpstream
) -> None:
    env = {"GROQ_BASE_URL": fake.base_url("groq"), "LLM_AGG_ADMIN_KEY": ADMIN_KEY}
    gateway = start_gateway(e2e_tmp, env, "--store", "moto")
    try:
        added = configure(
            gateway, "--provider", "groq", "--account", "m1", "--no-verify", "--key-stdin",
            stdin="gsk_in_moto_0004\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        reply = sdk(gateway, "unused-on-loopback").chat.completions.create(
            model="fake-model", messages=HI
        )
        assert reply.choices[0].message.content == "Hello from groq: hi"
        assert fake.received()[-1]["headers"]["authorization"] == "Bearer gsk_in_moto_0004"
        assert httpx.get(gateway.url + "/health").json()["store"] == "moto"
    finally:
        gateway.stop()


def test_admin_key_is_made_on_first_start_and_shown_once(e2e_tmp: Path) -> None:
    data = e2e_tmp / "first-start"
    first = start_gateway(e2e_tmp, {"LLM_AGG_DATA_DIR": str(data)})
    first.stop()
    key_file = data / "admin.key"
    key = key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key.startswith("sk-llmagg-admin-")
    assert key in first.output() and str(key_file) in first.output()

    second = start_gateway(e2e_tmp, {"LLM_AGG_DATA_DIR": str(data)})
    try:
        assert key not in second.output()
        answer = httpx.get(second.url + "/admin/keys", headers={"authorization": f"Bearer {key}"})
        assert answer.status_code == 200
    finally:
        second.stop()
