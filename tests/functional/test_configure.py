"""`llm-agg configure`: on the local store directly, and on a gateway's admin API."""

from __future__ import annotations

import io
import sys
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
    assert "error: --account: an account id is" in capsys.readouterr().err


def test_an_e_mail_like_account_id_is_a_valid_name(
    local_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The usage guide adds ``account1@example.com``."""
    flags = ["--provider", "groq", "--account", "account1@example.com", "--key-stdin"]
    assert run([*flags, "--no-verify"], KEY, monkeypatch) == 0
    assert "Stored groq/account1@example.com" in capsys.readouterr().out
    assert [a["account_id"] for a in LocalAdmin(local_env).accounts()] == ["account1@example.com"]
    remove = ["--remove", "--provider", "groq", "--account", "account1@example.com"]
    assert run(remove, monkeypatch=monkeypatch) == 0


def test_a_bad_account_id_is_said_before_any_key_is_read(
    local_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("a b", "../x", "a|b", "@example.com", "a/b", "x" * 129):
        assert run(["--provider", "groq", "--account", bad, "--key-stdin"], KEY, monkeypatch) == 1
        assert "--account" in capsys.readouterr().err
        assert sys.stdin.read() == KEY  # the key was never read
    said: list[str] = []
    no_key: list[str] = []  # a secret prompt would fail: nothing to answer it with
    interactive(LocalAdmin(local_env), scripted(["a", "groq", "has space", "q"], no_key, said))
    assert any(line.startswith("Not a valid account name: an account id is") for line in said)


def test_a_key_that_could_not_be_checked_says_how_to_skip_the_check(
    local_env: Settings,
    provider: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    provider.get(f"{GROQ}/models").respond(503, json={"error": {"message": "overloaded"}})
    assert run(["--provider", "groq", "--account", "a1", "--key-stdin"], KEY, monkeypatch) == 1
    err = capsys.readouterr().err
    assert "could not be checked" in err and "add --no-verify to store it unchecked" in err
    assert '"verify"' not in err
    said: list[str] = []
    interactive(LocalAdmin(local_env), scripted(["a", "groq", "a1", "", "y", "q"], [KEY], said))
    assert any("answer n when asked to check the key" in line for line in said)
    assert LocalAdmin(local_env).accounts() == []


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
    assert any(line.startswith("Not stored: groq refused the key") for line in said)
    assert LocalAdmin(local_env).accounts() == []


def test_interactive_check_asks_the_provider_about_a_stored_key(
    local_env: Settings, provider: respx.MockRouter
) -> None:
    provider.get(f"{GROQ}/models").respond(200, json=fixture("groq/models_list.json"))
    said: list[str] = []
    answers = ["a", "groq", "work", "", "n", "c", "groq/work", "c", "groq/nobody", "q"]
    interactive(LocalAdmin(local_env), scripted(answers, [KEY], said))
    assert "groq/work works: groq accepted the key." in said
    assert "Not checked: no account groq/nobody" in said


def test_remote_admin_api_adds_lists_and_removes(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path)) as client:
        admin = RemoteAdmin("http://testserver", ADMIN_KEY)
        admin._http = client  # the same requests, through the in-process gateway
        client.headers["authorization"] = f"Bearer {ADMIN_KEY}"
        said: list[str] = []
        answers = ["a", "groq", "r1@example.com", "", "n", "c", "groq/r1@example.com", "q"]
        interactive(admin, scripted(answers, [KEY], said))
        assert "Stored groq/r1@example.com (not checked with the provider)." in said
        assert any(line.startswith("groq/r1@example.com ") for line in said)  # checked
        assert [a["account_id"] for a in admin.accounts()] == ["r1@example.com"]
        admin.remove("groq", "r1@example.com")
        assert admin.accounts() == []
        assert isinstance(client, TestClient)
