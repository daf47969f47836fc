"""What the web page asks of the admin API beyond the basics: the routing in effect, a live
check of an existing account's key, and usage by day for each provider, model and key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from fastapi.testclient import TestClient

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

KEY = "gsk_page_test_key_0000d00d"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, GROQ_API_KEY="gsk_env_page_0000beef")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with serve(settings) as client:
        yield client


# --- routing ---------------------------------------------------------------------------------


def test_routing_shows_the_order_of_auto_for_each_model_quality(client: TestClient) -> None:
    routing = client.get("/admin/routing", headers=ADMIN)
    assert routing.status_code == 200
    body = routing.json()
    assert body["object"] == "routing"
    assert body["default_quality"] == "balanced"
    assert (
        set(body["qualities"]) == set(body["profiles"]) == {"fastest", "balanced", "best_quality"}
    )
    assert body["profiles"]["balanced"] == {"quality": 3, "speed": 2, "min_quality": 1}
    # The e2e catalog: fake-model on groq (quality 4, speed 5) and cerebras (3, 4); only groq
    # has a key here, and every candidate says whether it has one.
    balanced = body["qualities"]["balanced"]
    assert [(c["provider"], c["model"], c["configured"]) for c in balanced] == [
        ("groq", "fake-model", True),
        ("cerebras", "fake-model", False),
    ]
    assert balanced[0]["score"] > balanced[1]["score"]
    assert body["rules"] == []


RULES = """
providers:
  groq:
    models: [{id: fast-model, quality: 2, speed: 5}, {id: big-model, quality: 5, speed: 2}]
  cerebras:
    models: [{id: code-model, quality: 4, speed: 4, tasks: [code]}]
routing_rules:
  - name: code
    conditions: {task: code, content_keywords: [python, rust]}
    provider_preferences: [cerebras]
    fallback_chain: [groq/big-model]
  - name: everything else
    fallback_chain: [groq/fast-model]
"""


def test_routing_shows_the_catalogs_rules_and_what_they_do_to_auto(tmp_path: Path) -> None:
    catalog = tmp_path / "rules.yaml"
    catalog.write_text(RULES)
    with serve(make_settings(tmp_path, LLM_AGG_CONFIG=str(catalog))) as client:
        body = client.get("/admin/routing", headers=ADMIN).json()
    assert body["rules"] == [
        {
            "name": "code",
            "conditions": {
                "content_keywords": ["python", "rust"],
                "task": ["code"],
                "min_context": None,
                "needs": [],
            },
            "provider_preferences": ["cerebras"],
            "fallback_chain": ["groq/big-model"],
        },
        {
            "name": "everything else",
            "conditions": {"content_keywords": [], "task": [], "min_context": None, "needs": []},
            "provider_preferences": [],
            "fallback_chain": ["groq/fast-model"],
        },
    ]
    # A plain request meets the catch-all rule: its model comes first, whatever the quality.
    for quality in ("fastest", "balanced", "best_quality"):
        assert body["qualities"][quality][0]["model"] == "fast-model", quality


def test_routing_of_an_empty_catalog_lists_no_candidates(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("providers: {}\n")
    with serve(make_settings(tmp_path, LLM_AGG_CONFIG=str(empty))) as client:
        body = client.get("/admin/routing", headers=ADMIN).json()
    assert body["qualities"] == {"fastest": [], "balanced": [], "best_quality": []}


# --- checking an account's key ----------------------------------------------------------------


@respx.mock
def test_checking_a_stored_account_asks_the_provider_with_its_own_key(
    client: TestClient,
) -> None:
    add_account(client, "groq", "work", KEY, additional_headers={"X-Team": "blue"})
    models = respx.get(f"{GROQ}/models").respond(200, json=fixture("groq/models_list.json"))
    response = client.post("/admin/credentials/groq/work/check", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "credential_check",
        "provider": "groq",
        "account_id": "work",
        "ok": True,
        "status": 200,
        "message": "groq accepted the key",
    }
    sent = models.calls.last.request.headers
    assert sent["authorization"] == f"Bearer {KEY}" and sent["x-team"] == "blue"
    assert KEY not in response.text


@respx.mock
def test_checking_the_env_account_reports_a_refused_key_without_echoing_it(
    client: TestClient,
) -> None:
    respx.get(f"{GROQ}/models").respond(401, json=fixture("groq/error_401_invalid_api_key.json"))
    response = client.post("/admin/credentials/groq/env/check", headers=ADMIN)
    assert response.status_code == 200
    verdict = response.json()
    assert (verdict["ok"], verdict["status"]) == (False, 401)
    assert verdict["message"].startswith("groq refused the key: Invalid API Key")
    assert "gsk_env_page_0000beef" not in response.text


def test_checking_an_unknown_account_or_provider_is_a_404(client: TestClient) -> None:
    for path in ("/admin/credentials/groq/nobody/check", "/admin/credentials/cerebras/env/check",
                 "/admin/credentials/nope/env/check"):  # fmt: skip
        assert_openai_error(client.post(path, headers=ADMIN), 404)


# --- usage by day ----------------------------------------------------------------------------


def test_usage_stats_give_each_provider_model_and_key_by_day(
    client: TestClient, settings: Settings
) -> None:
    runtime_of(client).stored.stores.usage.record(
        [
            UsageEvent("2026-03-01", "groq", "m1", "a1", "key_1", True, 10, 5, 40.0),
            UsageEvent("2026-03-01", "groq", "m1", "a1", "key_1", False, 10, 0, 900.0),
            UsageEvent("2026-03-02", "groq", "m2", "a1", "-", True, 1, 1, 200.0),
            UsageEvent("2026-03-02", "cerebras", "m2", "env", "-", True, 2, 2, 30.0),
        ]
    )
    stats = client.get("/admin/usage-stats?start=2026-03-01&end=2026-03-07", headers=ADMIN).json()
    series = stats["series"]
    assert set(series) == {"provider", "model", "account", "gateway_key"}
    groq = series["provider"]["groq"]
    assert sorted(groq) == ["2026-03-01", "2026-03-02"]
    first = groq["2026-03-01"]
    assert (first["requests"], first["errors"], first["prompt_tokens"]) == (2, 1, 20)
    assert (first["latency_p50_ms"], first["latency_p95_ms"]) == (50, 1000)
    assert series["provider"]["cerebras"] == {"2026-03-02": stats["by"]["provider"]["cerebras"]}
    assert set(series["model"]) == {"groq/m1", "groq/m2", "cerebras/m2"}
    assert series["gateway_key"]["-"]["2026-03-02"]["requests"] == 2
    assert sorted(series["account"]["groq/a1"]) == ["2026-03-01", "2026-03-02"]
