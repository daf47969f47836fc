"""`llm-agg configure`: on the local store directly, and on a gateway's admin API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from fastapi.testclient import TestClient

from llm_agg.settings import Settings
from llm_agg_local.cli import main
from llm_agg_local.configure import LocalAdmin, RemoteAdmin, Terminal, interactive
from tests.functional.gateway import ADMIN_KEY, GROQ, ROOT, fixture, make_settings, serve

KEY = "gsk_configure_test_key_90ab"


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LLM_AGG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LLM_AGG_CONFIG", str(ROOT / "tests/e2e/providers.yaml"))
    monkeypatch.setenv("GROQ_BASE_URL", GROQ)
    return Settings.from_env()


@pytest.fixture
def provider() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def run(argv: list[str], stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    assert monkeypatch is not None
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["configure", *argv])


def test_add_list_and_remove_from_flags_on_the_local_store(
    local_env: Settings,
    provider: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    provider.get(f"{GROQ}/models").respond(200, json=fixture("groq/models_list.json"))
    added = run(
        ["--provider", "groq", "--account", "a1", "--key-stdin", "--header", "X-Title: me"],
        KEY + "\n",
        monkeypatch,
    )
    out = capsys.readouterr().out
    assert added == 0
    assert "Works: groq accepted the key. Stored groq/a1." in out

    assert run(["--list"], monkeypatch=monkeypatch) == 0
    listing = capsys.readouterr().out
    assert "gsk_…90ab" in listing and KEY not in listing

    assert run(["--remove", "--provider", "groq", "--account", "a1"], monkeypatch=monkeypatch) == 0
    assert run(["--list"], monkeypatch=monkeypatch) == 0
    assert "No accounts yet." in capsys.readouterr().out


def test_a_refused_key_is_not_stored_and_the_verdict_is_clear(
    local_env: Settings,
    provider: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    provider.get(f"{GROQ}/models").respond(401, json=fixture("groq/error_401_invalid_api_key.json"))
    code = run(["--provider", "groq", "--account", "a1", "--key-stdin"], KEY, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1
    assert "groq refused the key: Invalid API Key" in err and KEY not in err
    assert LocalAdmin(local_env).accounts() == []


def test_bad_flags_say_what_is_missing(
    local_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--provider", "groq", "--key-stdin"], KEY, monkeypatch) == 1
    assert "--account" in capsys.readouterr().err
    assert run(["--remove", "--provider", "groq"], monkeypatch=monkeypatch) == 1
    assert run(["--provider", "nope", "--account", "a", "--key-stdin"], KEY, monkeypatch) == 1
    assert "unknown provider" in capsys.readouterr().err
    assert run(["--provider", "groq", "--account", "a b", "--key-stdin"], KEY, monkeypatch) == 1
    assert "account_id" in capsys.readouterr().err


def scripted(answers: list[str], secrets: list[str], said: list[str]) -> Terminal:
    replies, hidden = iter(answers), iter(secrets)
    return Terminal(lambda _: next(replies), lambda _: next(hidden), said.append)


def test_interactive_add_list_and_remove(local_env: Settings) -> None:
    said: list[str] = []
    answers = ["a", "groq", "work", "HTTP-Referer: https://me.example", "", "n", "l",
               "r", "groq/work", "l", "q"]  # fmt: skip
    assert interactive(LocalAdmin(local_env), scripted(answers, [KEY], said)) == 0
    text = "\n".join(said)
    assert "Stored groq/work (not checked with the provider)." in text
    assert "gsk_…90ab" in text and KEY not in text
    assert "Removed groq/work." in text
    assert said[-1] == "No accounts yet."


def test_interactive_live_check_says_whether_the_key_works(
    local_env: Settings, provider: respx.MockRouter
) -> None:
    provider.get(f"{GROQ}/models").respond(401, json=fixture("groq/error_401_invalid_api_key.json"))
    said: list[str] = []
    answers = ["a", "groq", "", "", "y", "q"]
    interactive(LocalAdmin(local_env), scripted(answers, [KEY], said))
    assert any(line.startswith("NOT stored: Not stored: groq refused the key") for line in said)
    assert LocalAdmin(local_env).accounts() == []


def test_remote_admin_api_adds_lists_and_removes(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path)) as client:
        admin = RemoteAdmin("http://testserver", ADMIN_KEY)
        admin._http = client  # the same requests, through the in-process gateway
        client.headers["authorization"] = f"Bearer {ADMIN_KEY}"
        said: list[str] = []
        answers = ["a", "groq", "r1", "", "n", "q"]
        interactive(admin, scripted(answers, [KEY], said))
        assert "Stored groq/r1 (not checked with the provider)." in said
        assert [a["account_id"] for a in admin.accounts()] == ["r1"]
        admin.remove("groq", "r1")
        assert admin.accounts() == []
        assert isinstance(client, TestClient)
