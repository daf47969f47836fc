"""The admin API: credentials, gateway keys, providers and usage, behind the admin key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from llm_agg.apps.admin import create_admin_app
from llm_agg.limits.cooldown import Cooldown
from llm_agg.limits.windows import ACCOUNT
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg.store.base import UsageEvent
from tests.functional.gateway import (
    ADMIN,
    GROQ,
    add_account,
    assert_openai_error,
    fixture,
    make_settings,
    serve,
)
from tests.support.runtimes import runtime_of

KEY = "gsk_admin_test_key_77aa9f2a"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with serve(settings) as client:
        yield client


def stored_state(client: TestClient) -> tuple[Any, ...]:
    """Everything the admin API can change, read straight from the store."""
    stores = runtime_of(client).stored.stores
    return (stores.credentials.list(), stores.gateway_keys.list())


# --- who may call ----------------------------------------------------------------------------


def test_every_admin_route_needs_the_admin_key(client: TestClient) -> None:
    routes = [
        ("GET", "/admin/credentials"),
        ("POST", "/admin/credentials"),
        ("PATCH", "/admin/credentials/groq/a1"),
        ("DELETE", "/admin/credentials/groq/a1"),
        ("POST", "/admin/credentials/groq/a1/check"),
        ("GET", "/admin/providers"),
        ("GET", "/admin/routing"),
        ("GET", "/admin/usage-stats"),
        ("GET", "/admin/keys"),
        ("POST", "/admin/keys"),
        ("DELETE", "/admin/keys/key_1"),
    ]
    for n, (method, path) in enumerate(routes):
        # A client address per route: ten wrong keys from one address slow it down (below).
        sender = TestClient(client.app, raise_server_exceptions=False, client=(f"10.0.0.{n}", 1))
        for headers in ({}, {"authorization": "Bearer wrong-admin-key"}, {"authorization": "x"}):
            error = assert_openai_error(sender.request(method, path, headers=headers), 401)
            assert error["type"] == "authentication_error"


def test_repeated_wrong_admin_keys_slow_that_address_down(client: TestClient) -> None:
    guesser = TestClient(client.app, raise_server_exceptions=False, client=("10.1.1.1", 1))
    wrong = {"authorization": "Bearer sk-llmagg-admin-guess-000000000000000000"}
    for _ in range(10):
        assert_openai_error(guesser.get("/admin/keys", headers=wrong), 401)
    # Now refused before the key is even compared: a right guess would not be told apart.
    slowed = guesser.get("/admin/keys", headers=ADMIN)
    assert assert_openai_error(slowed, 429)["code"] == "rate_limit_exceeded"
    assert int(slowed.headers["retry-after"]) <= 60
    assert client.get("/admin/keys", headers=ADMIN).status_code == 200  # other addresses


@pytest.mark.parametrize("length", [1, 16, 31])
def test_an_admin_key_under_32_characters_is_refused_even_when_sent(
    tmp_path: Path, length: int
) -> None:
    short = "Q7" * (length // 2) + "Z" * (length % 2)
    settings = make_settings(tmp_path, LLM_AGG_ADMIN_KEY=short)
    with TestClient(create_admin_app(Runtime(settings))) as client:
        response = client.get("/admin/keys", headers={"authorization": f"Bearer {short}"})
    error = assert_openai_error(response, 503)
    assert error["code"] == "admin_disabled" and "32 characters" in error["message"]
    assert short not in error["message"]


def test_a_gateway_key_is_forbidden_on_the_admin_api(client: TestClient) -> None:
    key = client.post("/admin/keys", json={}, headers=ADMIN).json()["key"]
    response = client.get("/admin/keys", headers={"authorization": f"Bearer {key}"})
    assert assert_openai_error(response, 403)["type"] == "permission_error"


def test_without_an_admin_key_the_admin_api_is_off(tmp_path: Path) -> None:
    settings = Settings.from_env({"LLM_AGG_DATA_DIR": str(tmp_path)})
    with TestClient(create_admin_app(Runtime(settings))) as client:
        response = client.get("/admin/keys", headers={"authorization": "Bearer anything"})
    assert assert_openai_error(response, 503)["code"] == "admin_disabled"


# --- credentials -----------------------------------------------------------------------------


def test_credentials_are_listed_masked_never_in_full(client: TestClient) -> None:
    assert add_account(client, "groq", "a1", KEY).status_code == 201
    listing = client.get("/admin/credentials", headers=ADMIN)
    assert listing.status_code == 200
    (entry,) = listing.json()["data"]
    assert entry["key"] == "gsk_…9f2a"
    assert (entry["provider"], entry["account_id"], entry["source"]) == ("groq", "a1", "store")
    assert KEY not in listing.text


def test_env_keys_appear_as_accounts(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, GROQ_API_KEY="gsk_env_key_0000beef")) as client:
        data = client.get("/admin/credentials?provider=groq", headers=ADMIN).json()["data"]
    assert [(d["account_id"], d["source"], d["key"]) for d in data] == [("env", "env", "gsk_…beef")]


def test_posting_an_existing_account_replaces_it(client: TestClient, settings: Settings) -> None:
    add_account(client, "groq", "a1", KEY)
    again = add_account(client, "groq", "a1", "gsk_second_key_0000cafe", enabled=False)
    assert again.status_code == 200
    assert again.json()["replaced"] is True
    (record,) = runtime_of(client).stored.stores.credentials.list()
    assert record.enabled is False
    assert runtime_of(client).stored.vault.secret(record).api_key == "gsk_second_key_0000cafe"


@respx.mock
def test_live_check_stores_a_key_the_provider_accepts(
    client: TestClient, settings: Settings
) -> None:
    models = respx.get(f"{GROQ}/models").respond(200, json=fixture("groq/models_list.json"))
    response = add_account(client, "groq", "a1", KEY, verify=True)
    assert response.status_code == 201, response.text
    assert response.json()["verification"]["ok"] is True
    assert models.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert len(stored_state(client)[0]) == 1


@respx.mock
def test_live_check_refuses_a_key_the_provider_rejects(
    client: TestClient, settings: Settings
) -> None:
    respx.get(f"{GROQ}/models").respond(401, json=fixture("groq/error_401_invalid_api_key.json"))
    error = assert_openai_error(add_account(client, "groq", "a1", KEY, verify=True), 400)
    assert error["code"] == "invalid_api_key"
    assert "refused the key" in error["message"] and "Invalid API Key" in error["message"]
    assert stored_state(client) == ([], [])


@respx.mock
@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503, json={"error": {"message": "over capacity"}}), httpx.ConnectError("x")],
)
def test_live_check_without_a_verdict_stores_nothing(
    client: TestClient, settings: Settings, failure: Any
) -> None:
    route = respx.get(f"{GROQ}/models")
    if isinstance(failure, Exception):
        route.side_effect = failure
    else:
        route.return_value = failure
    error = assert_openai_error(add_account(client, "groq", "a1", KEY, verify=True), 502)
    assert error["code"] == "verification_failed"
    assert stored_state(client) == ([], [])


# --- bad input, everywhere -------------------------------------------------------------------

GOOD = {"provider": "groq", "account_id": "a1", "api_key": KEY}
BAD_REQUESTS = [
    ("POST", "/admin/credentials", b"", 400),
    ("POST", "/admin/credentials", b"{not json", 400),
    ("POST", "/admin/credentials", b"[1, 2]", 400),
    ("POST", "/admin/credentials", {**GOOD, "provider": "nope"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "account_id": "has space"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "account_id": "env"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "account_id": ""}, 400),
    ("POST", "/admin/credentials", {**GOOD, "api_key": "short"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "api_key": "gsk with spaces inside"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "api_key": 12345678}, 400),
    ("POST", "/admin/credentials", {k: v for k, v in GOOD.items() if k != "api_key"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "enabled": "yes"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "surprise": 1}, 400),
    ("POST", "/admin/credentials", {**GOOD, "additional_headers": {"Authorization": "x"}}, 400),
    ("POST", "/admin/credentials", {**GOOD, "additional_headers": {"X-A": "a\r\nb"}}, 400),
    ("POST", "/admin/credentials", {**GOOD, "additional_headers": {"bad name": "v"}}, 400),
    ("POST", "/admin/credentials", {**GOOD, "additional_headers": ["X-A"]}, 400),
    ("POST", "/admin/credentials", {**GOOD, "quota_group": "org|1"}, 400),
    ("POST", "/admin/credentials", {**GOOD, "quota_group": ""}, 400),
    ("POST", "/admin/credentials", {**GOOD, "quota_group": 7}, 400),
    # cerebras counts its quota per key: a group would change nothing
    ("POST", "/admin/credentials", {**GOOD, "provider": "cerebras", "quota_group": "o"}, 400),
    ("PATCH", "/admin/credentials/groq/a1", {"quota_group": "has space"}, 400),
    ("PATCH", "/admin/credentials/groq/a1", {"enabled": None}, 400),
    ("PATCH", "/admin/credentials/cerebras/a1", {"quota_group": "org-1"}, 400),
    ("PATCH", "/admin/credentials/groq/a1", {"enabled": "no"}, 400),
    ("PATCH", "/admin/credentials/groq/a1", {}, 400),
    ("PATCH", "/admin/credentials/groq/a1", b"nope", 400),
    ("PATCH", "/admin/credentials/groq/missing", {"enabled": False}, 404),
    ("PATCH", "/admin/credentials/nope/a1", {"enabled": False}, 404),
    ("PATCH", "/admin/credentials/groq/env", {"enabled": False}, 400),
    ("DELETE", "/admin/credentials/groq/missing", None, 404),
    ("DELETE", "/admin/credentials/nope/a1", None, 404),
    ("DELETE", "/admin/credentials/groq/env", None, 400),
    ("DELETE", "/admin/credentials/groq", None, 404),
    ("GET", "/admin/credentials?provider=nope", None, 404),
    ("GET", "/admin/usage-stats?start=yesterday", None, 400),
    ("GET", "/admin/usage-stats?start=2026-02-30", None, 400),
    ("GET", "/admin/usage-stats?start=2026-03-02&end=2026-03-01", None, 400),
    ("GET", "/admin/usage-stats?start=2020-01-01&end=2026-01-01", None, 400),
    ("GET", "/admin/usage-stats?provider=nope", None, 404),
    ("POST", "/admin/keys", b"{", 400),
    ("POST", "/admin/keys", {"name": ""}, 400),
    ("POST", "/admin/keys", {"requests_per_minute": 0}, 400),
    ("POST", "/admin/keys", {"tokens_per_day": -5}, 400),
    ("POST", "/admin/keys", {"requests_per_minute": "10"}, 400),
    ("POST", "/admin/keys", {"expires_at": 1000}, 400),
    ("POST", "/admin/keys", {"expires_at": 4_000_000_000, "expires_in_days": 3}, 400),
    ("POST", "/admin/keys", {"expires_in_days": 0}, 400),
    ("POST", "/admin/keys", {"owner": "me"}, 400),
    ("DELETE", "/admin/keys/key_missing", None, 404),
    ("PUT", "/admin/keys", {}, 405),
    ("GET", "/admin/unknown", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD_REQUESTS)
def test_bad_input_is_refused_openai_shaped_and_changes_nothing(
    client: TestClient, settings: Settings, method: str, path: str, body: Any, status: int
) -> None:
    add_account(client, "groq", "a1", KEY)
    client.post("/admin/keys", json={"name": "kept"}, headers=ADMIN)
    before = stored_state(client)

    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = client.request(method, path, headers=ADMIN, **({} if body is None else kwargs))

    error = assert_openai_error(response, status)
    assert error["type"] == "invalid_request_error"
    assert stored_state(client) == before
    assert KEY not in response.text


# --- gateway keys ----------------------------------------------------------------------------


def test_gateway_key_is_shown_once_and_stored_as_a_hash(
    client: TestClient, settings: Settings
) -> None:
    created = client.post(
        "/admin/keys",
        json={"name": "ci", "expires_in_days": 30, "requests_per_minute": 60,
              "tokens_per_day": 100000},
        headers=ADMIN,
    )  # fmt: skip
    assert created.status_code == 201
    shown = created.json()
    key = shown["key"]
    assert key.startswith("sk-llmagg-") and len(key) > 40
    assert shown["expires_at"] == pytest.approx(time.time() + 30 * 86400, abs=60)

    listing = client.get("/admin/keys", headers=ADMIN)
    (entry,) = listing.json()["data"]
    assert key not in listing.text and "key" not in entry
    assert entry["id"] == shown["id"] and entry["prefix"] == key[:14] + "…"
    (record,) = runtime_of(client).stored.stores.gateway_keys.list()
    assert key not in repr(record) and record.key_hash != key

    assert client.delete(f"/admin/keys/{shown['id']}", headers=ADMIN).status_code == 200
    assert client.get("/admin/keys", headers=ADMIN).json()["data"] == []


# --- providers and usage ---------------------------------------------------------------------


def test_providers_show_accounts_health_cooldowns_and_requests_today(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, CEREBRAS_API_KEY="csk_env_0000")
    with serve(settings) as client:
        add_account(client, "groq", "a1", KEY)
        add_account(client, "groq", "a2", KEY + "x", enabled=False)
        runtime = runtime_of(client)
        until = runtime.clock() + 30
        runtime.quota.cooldowns.add(Cooldown("groq", "a1", ACCOUNT, until, "groq answered 429"))
        today = time.strftime("%Y-%m-%d", time.gmtime())
        runtime.stored.stores.usage.record(
            [UsageEvent(today, "groq", "fake-model", "a1", "-", True, 3, 4, 120.0)] * 2
        )
        data = {
            p["provider"]: p for p in client.get("/admin/providers", headers=ADMIN).json()["data"]
        }

    groq = {a["account_id"]: a for a in data["groq"]["accounts"]}
    assert data["groq"]["configured"] is True and data["groq"]["supported"] is True
    assert groq["a1"]["healthy"] is False
    assert groq["a1"]["cooling_down_until"] == pytest.approx(until, abs=1)
    assert groq["a1"]["requests_today"] == 2
    assert (groq["a2"]["enabled"], groq["a2"]["healthy"]) == (False, False)
    (cerebras,) = data["cerebras"]["accounts"]
    assert (cerebras["source"], cerebras["healthy"]) == ("env", True)
    assert data["together"] == {
        "provider": "together", "supported": True, "configured": False, "accounts": [],
        "setup": "TOGETHER_API_KEY", "quota_scope": "key"
    }  # fmt: skip
    assert data["groq"]["quota_scope"] == "account"  # keys of one organisation share one quota


def test_usage_stats_by_day_provider_model_account_and_key(
    client: TestClient, settings: Settings
) -> None:
    usage = runtime_of(client).stored.stores.usage
    usage.record(
        [
            UsageEvent("2026-03-01", "groq", "m1", "a1", "key_1", True, 10, 5, 40.0),
            UsageEvent("2026-03-01", "groq", "m1", "a1", "key_1", True, 10, 5, 900.0),
            UsageEvent("2026-03-01", "groq", "m1", "a1", "key_1", False, 10, 0, 30.0),
            UsageEvent("2026-03-02", "cerebras", "m2", "env", "-", True, 1, 1, 200.0),
            UsageEvent("2026-04-01", "groq", "m1", "a1", "key_1", True, 1, 1, 10.0),
        ]
    )
    stats = client.get("/admin/usage-stats?start=2026-03-01&end=2026-03-31", headers=ADMIN).json()
    assert stats["total"]["requests"] == 4
    groq = stats["by"]["provider"]["groq"]
    assert (groq["requests"], groq["errors"], groq["prompt_tokens"]) == (3, 1, 30)
    assert (groq["latency_p50_ms"], groq["latency_p95_ms"]) == (50, 1000)
    assert set(stats["by"]["gateway_key"]) == {"key_1", "-"}
    assert set(stats["by"]["model"]) == {"groq/m1", "cerebras/m2"}
    assert set(stats["by"]["account"]) == {"groq/a1", "cerebras/env"}
    assert set(stats["by"]["day"]) == {"2026-03-01", "2026-03-02"}

    only = client.get(
        "/admin/usage-stats?start=2026-03-01&end=2026-04-30&provider=groq", headers=ADMIN
    ).json()
    assert [r["day"] for r in only["data"]] == ["2026-03-01", "2026-04-01"]


def test_usage_stats_count_errors_by_kind_and_failovers_per_group_and_in_total(
    client: TestClient, settings: Settings
) -> None:
    usage = runtime_of(client).stored.stores.usage
    usage.record(
        [
            UsageEvent("2026-03-01", "groq", "m1", "a1", "-", False, failure="rate_limited"),
            UsageEvent("2026-03-01", "cerebras", "m2", "env", "-", True, 5, 1, attempt=2),
            UsageEvent("2026-03-01", "groq", "m1", "a1", "-", False, failure="server"),
            UsageEvent("2026-03-02", "groq", "m1", "a1", "-", False, failure="rate_limited"),
            UsageEvent("2026-03-02", "cerebras", "m2", "env", "-", True, 5, 1, attempt=3),
            UsageEvent("2026-03-02", "cerebras", "m2", "env", "-", True, 5, 1),
        ]
    )
    stats = client.get("/admin/usage-stats?start=2026-03-01&end=2026-03-31", headers=ADMIN).json()

    total = stats["total"]
    assert (total["requests"], total["errors"], total["failovers"]) == (6, 3, 2)
    assert total["errors_by_kind"] == {"rate_limited": 2, "server": 1}
    groq, cerebras = stats["by"]["provider"]["groq"], stats["by"]["provider"]["cerebras"]
    assert (groq["errors_by_kind"], groq["failovers"]) == ({"rate_limited": 2, "server": 1}, 0)
    assert (cerebras["errors_by_kind"], cerebras["failovers"]) == ({}, 2)
    assert stats["by"]["day"]["2026-03-02"]["errors_by_kind"] == {"rate_limited": 1}
    assert stats["series"]["provider"]["cerebras"]["2026-03-01"]["failovers"] == 1
    row = next(r for r in stats["data"] if r["provider"] == "groq" and r["day"] == "2026-03-01")
    assert (row["errors"], row["errors_by_kind"]) == (2, {"rate_limited": 1, "server": 1})
    assert {"latency_p50_ms", "latency_p95_ms", "prompt_tokens"} <= set(total)
