"""The chat path over ASGI, upstreams mocked with respx."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
import respx

from llm_agg.settings import Settings
from llm_agg_local.server import create_app
from tests.functional.conftest import CEREBRAS, GROQ, KEYS
from tests.support.fixtures import raw
from tests.support.runtimes import runtime_of

pytestmark = pytest.mark.anyio

HELLO = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}


def answer(text: str = "hello") -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def error(status: int, message: str = "nope", **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"message": message, "type": "x"}}, headers=headers
    )


@respx.mock
async def test_the_answer_is_relayed_byte_for_byte_with_headers_naming_the_choice(
    client: httpx.AsyncClient,
) -> None:
    raw = orjson.dumps(answer())
    respx.post(GROQ).respond(200, content=raw, headers={"content-type": "application/json"})
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 200
    assert response.content == raw
    assert response.headers["x-llm-agg-provider"] == "groq"
    assert response.headers["x-llm-agg-model"] == "fake-model"
    assert response.headers["x-llm-agg-attempts"] == "1"


@respx.mock
async def test_a_5xx_moves_on_to_the_next_provider(client: httpx.AsyncClient) -> None:
    groq = respx.post(GROQ).mock(return_value=error(503))
    respx.post(CEREBRAS).respond(200, json=answer("from cerebras"))
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 200
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert response.headers["x-llm-agg-attempts"] == "2"
    assert groq.call_count == 1


@respx.mock
async def test_429_cools_the_account_until_the_announced_reset(client: httpx.AsyncClient) -> None:
    groq = respx.post(GROQ).mock(return_value=error(429, "slow down", **{"retry-after": "30"}))
    respx.post(CEREBRAS).respond(200, json=answer())
    first = await client.post("/v1/chat/completions", json=HELLO)
    second = await client.post("/v1/chat/completions", json=HELLO)
    assert first.status_code == second.status_code == 200
    assert groq.call_count == 1  # the second request did not try groq again
    health = (await client.get("/health")).json()
    assert health["providers"]["groq"]["cooling_down"] == ["env"]


@respx.mock
async def test_every_provider_rate_limited_is_429_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    respx.post(GROQ).mock(return_value=error(429, **{"retry-after": "20"}))
    respx.post(CEREBRAS).mock(
        return_value=error(
            429, **{"x-ratelimit-reset-requests": "45s", "x-ratelimit-remaining-requests": "0"}
        )
    )
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 429
    assert 15 <= int(response.headers["retry-after"]) <= 20
    assert response.json()["error"]["type"] == "rate_limit_error"
    again = await client.post("/v1/chat/completions", json=HELLO)
    assert again.status_code == 429 and "rate-limited" in again.json()["error"]["message"]


@respx.mock
async def test_a_fault_of_the_request_is_returned_at_once(client: httpx.AsyncClient) -> None:
    respx.post(GROQ).mock(return_value=error(400, "messages[0] is bad"))
    cerebras = respx.post(CEREBRAS).respond(200, json=answer())
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "messages[0] is bad"
    assert response.headers["x-llm-agg-provider"] == "groq"
    assert cerebras.call_count == 0


@respx.mock
async def test_all_failing_is_502_listing_each_attempt_without_keys(
    client: httpx.AsyncClient,
) -> None:
    respx.post(GROQ).mock(
        return_value=error(401, f"Incorrect API key provided: {KEYS['GROQ_API_KEY']}")
    )
    respx.post(CEREBRAS).mock(side_effect=httpx.ConnectError("refused"))
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert "groq/fake-model (HTTP 401" in message and "cerebras/fake-model (connection" in message
    assert KEYS["GROQ_API_KEY"] not in response.text


@respx.mock
async def test_upstream_timeouts_are_504(client: httpx.AsyncClient) -> None:
    respx.post(GROQ).mock(side_effect=httpx.ReadTimeout("slow"))
    respx.post(CEREBRAS).mock(side_effect=httpx.ConnectTimeout("slow"))
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


@respx.mock
async def test_a_model_no_provider_has_is_404(client: httpx.AsyncClient) -> None:
    respx.post(GROQ).mock(return_value=error(404, "model not found"))
    respx.post(CEREBRAS).mock(return_value=error(404, "model not found"))
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 404


@respx.mock
async def test_a_provider_that_refuses_a_field_is_skipped(client: httpx.AsyncClient) -> None:
    groq = respx.post(GROQ).respond(200, json=answer())
    respx.post(CEREBRAS).respond(200, json=answer())
    response = await client.post(
        "/v1/chat/completions", json={**HELLO, "model": "groq/fake-model", "n": 2}
    )
    assert response.status_code == 400 and "n=1" in response.json()["error"]["message"]
    assert groq.call_count == 0


@respx.mock
async def test_a_malformed_answer_counts_as_a_server_failure(client: httpx.AsyncClient) -> None:
    respx.post(GROQ).respond(200, content=b"<html>oops</html>")
    respx.post(CEREBRAS).respond(200, json=answer())
    response = await client.post("/v1/chat/completions", json=HELLO)
    assert response.headers["x-llm-agg-provider"] == "cerebras"


async def test_no_provider_configured_is_503_saying_how(make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(GROQ_API_KEY="", CEREBRAS_API_KEY="") as bare:
        response = await bare.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 503
    assert "GROQ_API_KEY" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b'{"model": "fake-model"}', 400),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404),
    ],
)
async def test_bad_requests_get_openai_shaped_errors(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await client.post("/v1/chat/completions", content=body, headers=JSON)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_unknown_routes_and_methods_are_openai_shaped(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = await client.get("/v1/chat/completions")
    assert wrong.status_code == 405 and "error" in wrong.json()


async def test_an_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions",
        content=b"x",
        headers={**JSON, "content-length": str(50 * 1024 * 1024)},
    )
    assert response.status_code == 413


async def test_models_lists_what_configured_providers_serve(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()
    ids = [m["id"] for m in listing["data"]]
    assert listing["object"] == "list"
    assert ids == ["auto", "groq/fake-model", "cerebras/fake-model"]


async def test_a_chunked_body_past_the_limit_is_413_too(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(25):
            yield b"x" * (1024 * 1024)  # 25 MiB, no content-length: past the 20 MiB bound

    response = await client.post("/v1/chat/completions", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "media", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
async def test_a_body_that_is_not_declared_json_is_415_before_any_call(
    client: httpx.AsyncClient, media: str | None
) -> None:
    # What a page on any origin may send without a preflight ("simple" requests).
    headers = {"content-type": media} if media else {}
    with respx.mock(assert_all_called=False) as router:
        groq = router.post(GROQ).respond(200, json=answer())
        response = await client.post(
            "/v1/chat/completions", content=orjson.dumps(HELLO), headers=headers
        )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert groq.call_count == 0


GITHUB = "http://github.test/inference"
GITHUB_CATALOG = "providers:\n  github:\n    models:\n      - {id: fake-model, quality: 4}\n"


def github_only(tmp_path: Path) -> Settings:
    config = tmp_path / "providers.yaml"
    config.write_text(GITHUB_CATALOG)
    env = {"GITHUB_TOKEN": "ghp_functional_0003", "GITHUB_BASE_URL": GITHUB}
    return Settings(config_path=config, data_dir=tmp_path / "data", environ=env)


async def test_a_prompt_known_to_exceed_every_providers_limit_is_a_413_before_any_call(
    tmp_path: Path,
) -> None:
    app = create_app(github_only(tmp_path))
    long = {**HELLO, "messages": [{"role": "user", "content": "word " * 40000}]}
    with respx.mock:  # nothing is sent: any call would be unmocked
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw"
        ) as client:
            response = await client.post("/v1/chat/completions", json=long)
    assert response.status_code == 413, response.text
    assert "github takes at most 8000 tokens a request" in response.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_every_provider_finds_too_large_is_a_413_not_held_against_the_model(
    tmp_path: Path, stream: bool
) -> None:
    settings = github_only(tmp_path)
    app = create_app(settings)
    refusal = raw("github/error_413_tokens_limit_reached.json")
    with respx.mock:
        respx.post(f"{GITHUB}/chat/completions").respond(413, content=refusal)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw"
        ) as client:
            response = await client.post("/v1/chat/completions", json={**HELLO, "stream": stream})
    assert response.status_code == 413, response.text
    body = response.json()["error"]
    assert (body["type"], body["code"]) == ("invalid_request_error", "request_too_large")
    assert "too large" in body["message"] and "github/fake-model" in body["message"]
    assert "ghp_functional_0003" not in response.text
    # the model is as healthy as before: only the request was too large for it
    assert ("github", "fake-model") not in runtime_of(app).health.snapshot()
