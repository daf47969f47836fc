"""Who may use /v1: gateway keys, their limits, and the open loopback-only server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import respx
from fastapi.testclient import TestClient
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from llm_agg.limits.keys import charge_tokens, tokens_today
from llm_agg.settings import Settings
from tests.functional.gateway import (
    ADMIN,
    ADMIN_KEY,
    GROQ,
    assert_openai_error,
    chat,
    fixture,
    make_settings,
    serve,
)
from tests.support.runtimes import runtime_of


@pytest.fixture(autouse=True)
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        answer = fixture("groq/response_text.json")
        router.post(f"{GROQ}/chat/completions").respond(200, json=answer)
        yield router


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path, GROQ_API_KEY="gsk_env_key_for_auth_tests", LLM_AGG_REQUIRE_AUTH="1"
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with serve(settings) as client:
        yield client


def new_key(client: TestClient, **limits: object) -> tuple[str, str]:
    created = client.post("/admin/keys", json=limits, headers=ADMIN).json()
    return created["key"], created["id"]


def sdk(client: TestClient, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=str(client.base_url) + "/v1", api_key=key, http_client=client, max_retries=0
    )


def ask(client: openai.OpenAI) -> str | None:
    reply = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}]
    )
    return reply.choices[0].message.content


def test_openai_sdk_is_refused_without_a_valid_key_and_served_with_one(
    client: TestClient, settings: Settings
) -> None:
    assert_openai_error(chat(client), 401)  # no Authorization header at all
    for wrong in ("sk-placeholder", "sk-llmagg-not-a-real-key"):
        with pytest.raises(openai.AuthenticationError):
            ask(sdk(client, wrong))
        with pytest.raises(openai.AuthenticationError):
            sdk(client, wrong).models.list()

    key, _ = new_key(client, name="sdk")
    assert ask(sdk(client, key))
    assert "auto" in [m.id for m in sdk(client, key).models.list()]


def test_the_key_id_is_on_the_request_for_usage_records(client: TestClient) -> None:
    key, key_id = new_key(client)
    seen: list[str] = []
    app = client.app.app_for("/v1")  # type: ignore[attr-defined]

    async def spy(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        seen.append(request.state.gateway_key_id)
        return response

    app.middleware_stack = None  # already built by an earlier request: made again with the spy
    app.add_middleware(BaseHTTPMiddleware, dispatch=spy)
    chat(client, key)
    assert seen == [key_id]


def test_deleted_key_is_refused_at_once(client: TestClient) -> None:
    key, key_id = new_key(client)
    assert chat(client, key).status_code == 200
    client.delete(f"/admin/keys/{key_id}", headers=ADMIN)
    assert_openai_error(chat(client, key), 401)


def test_expired_key_is_refused(client: TestClient, settings: Settings) -> None:
    created = client.post("/admin/keys", json={"expires_in_days": 1}, headers=ADMIN).json()
    assert chat(client, created["key"]).status_code == 200
    stored = runtime_of(client).stored
    stored.clock = lambda: time.time() + 2 * 86400  # type: ignore[method-assign]
    stored.keys.clock = stored.clock
    error = assert_openai_error(chat(client, created["key"]), 401)
    assert error["type"] == "authentication_error"


def test_key_over_its_requests_per_minute_gets_429_with_retry_after(client: TestClient) -> None:
    key, _ = new_key(client, requests_per_minute=3)
    assert [chat(client, key).status_code for _ in range(3)] == [200, 200, 200]
    over = chat(client, key)
    assert_openai_error(over, 429)
    assert 1 <= int(over.headers["retry-after"]) <= 60
    with pytest.raises(openai.RateLimitError):
        ask(sdk(client, key))
    other, _ = new_key(client, requests_per_minute=3)
    assert chat(client, other).status_code == 200  # limits are per key


def test_key_over_its_tokens_per_day_gets_429_until_midnight(
    client: TestClient, settings: Settings
) -> None:
    key, key_id = new_key(client, tokens_per_day=1000)
    assert chat(client, key).status_code == 200
    stored = runtime_of(client).stored
    charge_tokens(stored.stores.counters, key_id, 1000, time.time())
    over = chat(client, key)
    error = assert_openai_error(over, 429)
    assert "1000 tokens" in error["message"]
    assert int(over.headers["retry-after"]) <= 86400


def test_loopback_server_is_open_but_checks_a_gateway_key_that_is_sent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, GROQ_API_KEY="gsk_env_key_for_auth_tests")
    with serve(settings) as client:
        assert chat(client).status_code == 200
        assert chat(client, "placeholder-the-sdk-insists-on").status_code == 200
        assert_openai_error(chat(client, "sk-llmagg-wrong"), 401)
        key, _ = new_key(client, requests_per_minute=1)
        assert chat(client, key).status_code == 200
        assert_openai_error(chat(client, key), 429)  # its limits hold here too


@pytest.mark.parametrize("require_auth", ["1", ""])
def test_the_admin_key_on_v1_is_told_it_is_the_admin_key(tmp_path: Path, require_auth: str) -> None:
    settings = make_settings(tmp_path, LLM_AGG_REQUIRE_AUTH=require_auth)
    with serve(settings) as client:
        as_anthropic = client.get("/v1/models", headers={"x-api-key": ADMIN_KEY})
        for answer in (
            chat(client, ADMIN_KEY),
            client.get("/v1/models", headers=ADMIN),
            as_anthropic,
        ):
            error = assert_openai_error(answer, 401)
            assert "admin key" in error["message"] and "/v1 takes a gateway key" in error["message"]
            assert ADMIN_KEY not in answer.text
        other = assert_openai_error(chat(client, "sk-llmagg-wrong"), 401)
        assert "admin" not in other["message"]


def test_on_lambda_a_key_is_always_required(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, AWS_LAMBDA_FUNCTION_NAME="llm-agg-chat")
    assert settings.require_auth is True


def test_tokens_a_key_spends_on_real_answers_count_against_its_day(
    client: TestClient, settings: Settings
) -> None:
    key, key_id = new_key(client, tokens_per_day=1000)  # one answer of the fixture is 652
    assert chat(client, key).status_code == 200
    counters = runtime_of(client).stored.stores.counters
    deadline = time.monotonic() + 5
    while tokens_today(counters, key_id, time.time()) != 652 and time.monotonic() < deadline:
        time.sleep(0.02)  # charged (and its hold given back) after the answer, off its latency
    assert tokens_today(counters, key_id, time.time()) == 652
    assert chat(client, key).status_code == 200  # 652 < 1000: still admitted
    while tokens_today(counters, key_id, time.time()) != 1304 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert_openai_error(chat(client, key), 429)
