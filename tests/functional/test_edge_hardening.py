"""Small edges a hostile client pokes at: admin bodies are bounded, and no redirect is built
from the Host header."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import respx

from llm_agg.routing.health import MAX_TRACKED, Health
from llm_agg.usage import day_of
from tests.functional import gateway
from tests.functional.gateway import ADMIN, assert_openai_error, chat, make_settings, serve
from tests.support.runtimes import runtime_of


def test_an_admin_body_past_its_bound_is_413(tmp_path: Path) -> None:
    big = b'{"name": "' + b"x" * (100 * 1024) + b'"}'
    with serve(make_settings(tmp_path)) as client:
        declared = client.post("/admin/keys", content=big, headers=ADMIN)
        chunked = client.post(
            "/admin/keys", content=iter([big[:50_000], big[50_000:]]), headers=ADMIN
        )
        listed = client.get("/admin/keys", headers=ADMIN).json()
    assert_openai_error(declared, 413)
    assert_openai_error(chunked, 413)
    assert listed["data"] == []


@pytest.mark.parametrize("path", ["/v1/models/", "/admin/keys/", "/health/"])
def test_a_trailing_slash_is_a_404_never_a_redirect_to_the_host_sent(
    tmp_path: Path, path: str
) -> None:
    with serve(make_settings(tmp_path)) as client:
        response = client.get(
            path, headers={**ADMIN, "host": "evil.example"}, follow_redirects=False
        )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_the_pages_own_slash_redirect_stays_relative(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path)) as client:
        response = client.get("/ui/", headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "../ui"


def test_usage_keeps_catalogued_model_ids_and_groups_any_other(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, GROQ_API_KEY="gsk_edge_0001")
    made_up = ["groq/" + "x" * 250, "groq/made-up-1", "groq/made-up-2"]
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{gateway.GROQ}/chat/completions").respond(
            200, json=gateway.fixture("groq/response_text.json")
        )
        with serve(settings) as client:
            for model in ["fake-model", *made_up]:
                assert chat(client, model=model).status_code == 200
            asyncio.run(runtime_of(client).usage.flush())
            today = day_of(time.time())
            rows = runtime_of(client).stored.stores.usage.query(today, today)
    assert sorted((r.model, r.requests) for r in rows) == [("(other)", 3), ("fake-model", 1)]


def test_health_tracks_a_bounded_number_of_models() -> None:
    health = Health()
    for n in range(MAX_TRACKED + 50):
        health.observe("groq", f"made-up-{n}", True, 10.0)
    assert len(health.snapshot()) == MAX_TRACKED
    assert ("groq", f"made-up-{MAX_TRACKED + 49}") in health.snapshot()


def test_a_keyed_gateways_health_is_liveness_unless_a_key_is_sent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, GROQ_API_KEY="gsk_edge_0002", LLM_AGG_REQUIRE_AUTH="1")
    with serve(settings) as client:
        key = client.post("/admin/keys", json={}, headers=ADMIN).json()["key"]
        anonymous = client.get("/health")
        wrong = client.get("/health", headers={"authorization": "Bearer sk-llmagg-wrong"})
        keyed = client.get("/health", headers={"authorization": f"Bearer {key}"})
        admin = client.get("/health", headers=ADMIN)
    assert anonymous.status_code == wrong.status_code == 200
    assert anonymous.json() == wrong.json() == {"status": "ok"}
    for detailed in (keyed, admin):
        assert detailed.json()["status"] == "ok"
        assert detailed.json()["providers"]["groq"]["configured"] is True


def test_an_open_loopback_gateways_health_shows_its_details(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, GROQ_API_KEY="gsk_edge_0003")) as client:
        assert "providers" in client.get("/health").json()


@pytest.mark.parametrize(
    "route", ["/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens", "/v1/responses"]
)
@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded"])
def test_no_route_that_spends_quota_takes_a_cross_site_simple_post(
    tmp_path: Path, route: str, media: str
) -> None:
    body = b'{"model": "fake-model", "max_tokens": 5, "input": "hi", "messages": []}'
    with respx.mock(assert_all_called=False) as router:
        upstream = router.post(f"{gateway.GROQ}/chat/completions").respond(200, json={})
        with serve(make_settings(tmp_path, GROQ_API_KEY="gsk_edge_0004")) as client:
            response = client.post(route, content=body, headers={"content-type": media})
    assert response.status_code == 415
    assert upstream.call_count == 0
