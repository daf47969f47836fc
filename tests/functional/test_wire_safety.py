"""Values bound for HTTP headers are checked where they enter: a client's model id (it comes
back in x-llm-agg-model), an account's key and headers. One that slipped in anyway (stored by
an older version) fails that account's attempt and the next serves; nothing answers 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from tests.functional import gateway
from tests.functional.gateway import ADMIN, GROQ, add_account, chat, make_settings, serve
from tests.support.runtimes import runtime_of

assert_openai_error = gateway.assert_openai_error


@pytest.fixture
def upstream() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        for base in (GROQ, gateway.CEREBRAS):
            router.post(f"{base}/chat/completions").respond(
                200, json=gateway.fixture("groq/response_text.json")
            )
        router.get(f"{GROQ}/models").respond(200, json={"data": []})
        yield router


@pytest.mark.parametrize(
    "model",
    [
        "groq/fake\r\nx-injected: 1",
        "fake-model\n",
        "模型",
        "caf\u00e9",
        "fake model",
        "fake\x00model",
        "x" * 257,
    ],
)
def test_a_model_id_that_cannot_be_a_header_is_a_400_before_any_call(
    tmp_path: Path, upstream: respx.MockRouter, model: str
) -> None:
    with serve(make_settings(tmp_path, GROQ_API_KEY="gsk_wire_0001")) as client:
        response = chat(client, model=model)
        provider = chat(client, provider="groq\r\n")
    assert assert_openai_error(response, 400)["param"] == "model"
    assert assert_openai_error(provider, 400)["param"] == "provider"
    assert upstream.calls.call_count == 0


@pytest.mark.parametrize(
    "change",
    [
        {"additional_headers": {"X-Org": "caf\u00e9"}},
        {"additional_headers": {"X-Org": "ok\r\nx-evil: 1"}},
        {"additional_headers": {"X-Org": "trailing-newline\n"}},
        {"additional_headers": {"X-Org\n": "v"}},
        {"additional_headers": {"X-Org": " padded"}},
        {"api_key": "gsk_valid_looking\n"},
        {"api_key": "gsk_ключ_12345"},
    ],
)
def test_an_account_whose_key_or_headers_cannot_be_sent_is_refused_when_added(
    tmp_path: Path, upstream: respx.MockRouter, change: dict[str, object]
) -> None:
    body = {"provider": "groq", "account_id": "a1", "api_key": "gsk_wire_stored_1", **change}
    with serve(make_settings(tmp_path)) as client:
        response = client.post("/admin/credentials", json=body, headers=ADMIN)
    error = assert_openai_error(response, 400)
    assert "ключ" not in error["message"] and "café" not in error["message"]


def test_a_stored_account_that_cannot_be_sent_fails_over_and_checks_cleanly(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    settings = make_settings(tmp_path, CEREBRAS_API_KEY="csk_wire_0002")
    with serve(settings) as client:
        assert add_account(client, "groq", "good", "gsk_wire_good_1").status_code == 201
        stored = runtime_of(client).stored
        # As an older version could store it, past today's checks.
        stored.vault.put("groq", "bad", "gsk_wire_bad_0001", {"X-Org": "caf\u00e9"})
        stored.vault.put("groq", "crlf", "gsk_wire_crlf_001", {"X-Org": "a\r\nb"})
        answers = [chat(client) for _ in range(6)]
        checked = client.post("/admin/credentials/groq/bad/check", headers=ADMIN)
    assert [a.status_code for a in answers] == [200] * 6
    posts = [c.request for c in upstream.calls if c.request.method == "POST"]
    sent = {r.headers["authorization"] for r in posts}
    assert "Bearer gsk_wire_bad_0001" not in sent and "Bearer gsk_wire_crlf_001" not in sent
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is False


def test_every_secret_of_the_account_is_scrubbed_from_an_upstream_error(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    key, org = "gsk_wire_echoed_key_9", "org-secret-value-42"
    upstream.post(f"{GROQ}/chat/completions").respond(
        400, json={"error": {"message": f"bad key {key} for org {org}", "type": "x"}}
    )
    with serve(make_settings(tmp_path)) as client:
        add_account(client, "groq", "a1", key, additional_headers={"OpenAI-Organization": org})
        response = chat(client)
    message = assert_openai_error(response, 400)["message"]
    assert key not in message and org not in message and "***" in message


@pytest.mark.parametrize("mid_stream", [True, False])
def test_an_upstream_stream_error_is_scrubbed_of_the_accounts_secrets(
    tmp_path: Path, upstream: respx.MockRouter, mid_stream: bool
) -> None:
    key, org = "gsk_wire_streamed_key_7", "org-streamed-secret-8"
    first = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    )
    error = b'data: {"error":{"message":"key %s of %s was revoked"}}\n\n' % (
        key.encode(),
        org.encode(),
    )

    async def events() -> AsyncIterator[bytes]:
        yield first if mid_stream else error
        if mid_stream:
            yield error

    upstream.post(f"{GROQ}/chat/completions").mock(
        side_effect=lambda _: httpx.Response(
            200, content=events(), headers={"content-type": "text/event-stream"}
        )
    )
    with serve(make_settings(tmp_path)) as client:
        add_account(client, "groq", "a1", key, additional_headers={"OpenAI-Organization": org})
        response = chat(client, stream=True)
    assert response.status_code == (200 if mid_stream else 502)
    assert key not in response.text and org not in response.text
    assert "was revoked" in response.text and "***" in response.text


def test_a_client_header_forwarded_to_anthropic_that_cannot_be_sent_is_a_400(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    body = {"model": "fake-model", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with serve(make_settings(tmp_path, GROQ_API_KEY="gsk_wire_0003")) as client:
        response = client.post(
            "/v1/messages", json=body, headers={"anthropic-beta": "caf\u00e9".encode("latin-1")}
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.calls.call_count == 0
