"""Accounts added through the admin API serve chat like env keys, and stop at once when
deleted or disabled."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from llm_agg.store.base import StoreError
from tests.functional.gateway import (
    ADMIN,
    GROQ,
    add_account,
    assert_openai_error,
    chat,
    fixture,
    make_settings,
    serve,
)
from tests.support.runtimes import runtime_of

KEY = "gsk_stored_account_a1_5e9d"


@pytest.fixture
def upstream() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{GROQ}/chat/completions").respond(
            200, json=fixture("groq/response_text.json")
        )
        yield router


def test_stored_account_serves_chat_with_its_key_and_headers(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    with serve(make_settings(tmp_path)) as client:
        added = add_account(client, "groq", "a1", KEY, additional_headers={"X-Title": "tests"})
        assert added.status_code == 201, added.text

        answer = chat(client)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-llm-agg-provider"] == "groq"
    sent = upstream.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-title"] == "tests"


def test_deleting_an_account_stops_its_use_at_once(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    with serve(make_settings(tmp_path)) as client:
        add_account(client, "groq", "a1", KEY)
        assert chat(client).status_code == 200  # the account is now in the warm cache
        calls = upstream.calls.call_count

        deleted = client.delete("/admin/credentials/groq/a1", headers=ADMIN)
        assert deleted.status_code == 200, deleted.text
        after = chat(client)

    assert_openai_error(after, 503)
    assert upstream.calls.call_count == calls


def test_disabled_account_is_skipped_until_enabled_again(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    with serve(make_settings(tmp_path)) as client:
        add_account(client, "groq", "a1", KEY)
        assert chat(client).status_code == 200
        off = client.patch("/admin/credentials/groq/a1", json={"enabled": False}, headers=ADMIN)
        assert off.json()["enabled"] is False
        assert_openai_error(chat(client), 503)
        client.patch("/admin/credentials/groq/a1", json={"enabled": True}, headers=ADMIN)
        assert chat(client).status_code == 200


def test_warm_requests_touch_neither_store_nor_keyring(
    tmp_path: Path, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path)
    with serve(settings) as client:
        add_account(client, "groq", "a1", KEY)
        assert chat(client).status_code == 200
        stored = runtime_of(client).stored

        def refuse(*_: object, **__: object) -> None:
            raise AssertionError("the warm path called the store or the keyring")

        monkeypatch.setattr(stored.stores.credentials, "list", refuse)
        monkeypatch.setattr(stored.backend.keyring, "unwrap", refuse)
        for _ in range(3):
            assert chat(client).status_code == 200


def test_a_failing_store_leaves_env_keys_serving(
    tmp_path: Path, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, GROQ_API_KEY="gsk_from_env_0001")
    with serve(settings) as client:
        stored = runtime_of(client).stored
        stored.backend  # noqa: B018  (opened, then broken)

        def broken(*_: object) -> None:
            raise StoreError("sqlite: disk I/O error")

        monkeypatch.setattr(stored.stores.credentials, "list", broken)
        assert chat(client).status_code == 200
    assert upstream.calls.last.request.headers["authorization"] == "Bearer gsk_from_env_0001"


def test_account_added_elsewhere_is_used_within_the_list_ttl(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    """Two processes on one store: the second sees an account the first added, once its list
    of accounts is older than the vault's list TTL."""
    settings = make_settings(tmp_path)
    other = make_settings(tmp_path)  # another "process": its own Runtime and caches
    with serve(settings) as client, serve(other) as elsewhere:
        assert_openai_error(chat(elsewhere), 503)  # loads an empty list into its cache
        add_account(client, "groq", "a1", KEY)
        vault = runtime_of(elsewhere).stored.vault
        vault.list_ttl = 0.0
        assert chat(elsewhere).status_code == 200
    assert upstream.calls.call_count == 1
    assert isinstance(upstream.calls.last.response, httpx.Response)


def _account_view(client: object, account: str) -> dict[str, object]:
    listing = client.get("/admin/credentials", headers=ADMIN).json()  # type: ignore[attr-defined]
    items = listing["data"] if isinstance(listing, dict) else listing
    return next(a for a in items if a["account_id"] == account)


def _eventually(check: object, seconds: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    assert check()  # type: ignore[operator]


def test_traffic_writes_last_used_and_last_error_of_a_stored_account(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    with serve(make_settings(tmp_path)) as client:
        add_account(client, "groq", "a1", KEY)
        assert _account_view(client, "a1")["last_used_at"] is None
        assert chat(client).status_code == 200
        _eventually(lambda: _account_view(client, "a1")["last_used_at"] is not None)
        assert _account_view(client, "a1")["last_error"] is None

        upstream.post(f"{GROQ}/chat/completions").respond(
            401, json={"error": {"message": f"Invalid API Key {KEY}", "type": "x"}}
        )
        chat(client)
        _eventually(lambda: _account_view(client, "a1")["last_error"] is not None)
        error = str(_account_view(client, "a1")["last_error"])
        assert "401" in error and KEY not in error
