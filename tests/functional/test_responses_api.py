"""``/v1/responses`` over ASGI, with providers answered by respx: the same dispatch as chat
(routing, failover, headers, auth), kept responses and their owners, the WebSocket refusal."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from llm_agg.store.base import StoreError
from llm_agg.store.sqlite import SQLiteResponses
from tests.functional.gateway import (
    ADMIN,
    CEREBRAS,
    GROQ,
    assert_openai_error,
    fixture,
    make_settings,
    serve,
)
from tests.functional.test_conformance import Pieces
from tests.support.fixtures import FIXTURES
from tests.support.responses_stream import parse_events, types

ASK = {"model": "fake-model", "input": "hi"}
PATH = "/v1/responses"


def sse(name: str, cut: int | None = None) -> httpx.Response:
    """A recorded stream arriving in small reads (cut short to ``cut`` bytes, if given)."""
    body = (FIXTURES / name).read_bytes()[:cut]
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Pieces(body))


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def client(tmp_path: Path, upstream: respx.MockRouter) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, GROQ_API_KEY="gsk_resp_0001", CEREBRAS_API_KEY="csk_r_2")
    with serve(settings) as client:
        yield client


def sent(route: respx.Route, n: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(route.calls[n].request.content)
    return body


def test_a_response_is_served_through_the_chat_dispatch_with_its_headers(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{GROQ}/chat/completions").respond(
        200, json=fixture("groq/response_text.json")
    )
    response = client.post("/v1/responses", json={**ASK, "instructions": "Be brief."})
    assert response.status_code == 200
    assert response.headers["x-llm-agg-provider"] == "groq"
    assert response.headers["x-llm-agg-attempts"] == "1"
    body = response.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert (
        body["output_text"]
        == fixture("groq/response_text.json")["choices"][0]["message"]["content"]
    )
    assert sent(route)["messages"][0] == {"role": "system", "content": "Be brief."}


def test_a_rate_limited_provider_fails_over_before_the_stream_starts(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{GROQ}/chat/completions").respond(
        429, json=fixture("groq/error_429_rate_limit_tokens.json")
    )
    route = upstream.post(f"{CEREBRAS}/chat/completions").mock(
        return_value=sse("cerebras/stream_text.sse")
    )
    response = client.post("/v1/responses", json={**ASK, "stream": True})
    assert response.status_code == 200
    assert response.headers["x-llm-agg-provider"] == "cerebras"
    assert response.headers["x-llm-agg-attempts"] == "2"
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.content)
    assert events[-1].type == "response.completed" and events[-1].response.output_text
    assert sent(route)["stream_options"] == {"include_usage": True}


def test_a_stream_that_breaks_mid_way_ends_failed(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{GROQ}/chat/completions").mock(
        return_value=sse("openai/stream_midstream_error.sse")
    )
    response = client.post("/v1/responses", json={**ASK, "stream": True})
    events = parse_events(response.content)
    assert types(events)[-1] == "response.failed"
    assert "response.completed" not in types(events)
    assert "server had an error" in events[-1].response.error.message


def test_a_stream_cut_short_ends_failed(client: TestClient, upstream: respx.MockRouter) -> None:
    upstream.post(f"{GROQ}/chat/completions").mock(return_value=sse("groq/stream_text.sse", 2000))
    events = parse_events(client.post("/v1/responses", json={**ASK, "stream": True}).content)
    assert types(events)[-1] == "response.failed"
    assert "response.output_text.delta" in types(events)


def test_the_client_fault_of_an_upstream_comes_back_at_once_in_openai_shape(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{GROQ}/chat/completions").respond(
        400, json=fixture("groq/error_400_invalid_request.json")
    )
    error = assert_openai_error(client.post("/v1/responses", json=ASK), 400)
    assert error["type"] == "invalid_request_error"


def test_hosted_tools_are_refused_before_any_provider_is_asked(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{GROQ}/chat/completions").respond(200, json={})
    body = {**ASK, "tools": [{"type": "web_search"}]}
    error = assert_openai_error(client.post("/v1/responses", json=body), 400)
    assert error["param"] == "tools" and "web_search" in error["message"]
    assert not route.called


def test_previous_response_id_continues_the_conversation_and_store_false_keeps_nothing(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{GROQ}/chat/completions").respond(
        200, json=fixture("groq/response_text.json")
    )
    first = client.post("/v1/responses", json={**ASK, "input": "first"}).json()
    assert client.get(f"/v1/responses/{first['id']}").json() == first

    second = client.post(
        "/v1/responses",
        json={**ASK, "input": "second", "previous_response_id": first["id"], "store": False},
    ).json()
    messages = sent(route)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert (messages[0]["content"], messages[2]["content"]) == ("first", "second")
    assert messages[1]["content"] == first["output_text"]
    assert second["previous_response_id"] == first["id"]
    assert_openai_error(client.get(f"/v1/responses/{second['id']}"), 404)


def test_an_unknown_previous_response_is_a_400_naming_it(client: TestClient) -> None:
    body = {**ASK, "previous_response_id": "resp_nope"}
    error = assert_openai_error(client.post("/v1/responses", json=body), 400)
    assert (error["param"], error["code"]) == (
        "previous_response_id",
        "previous_response_not_found",
    )


def test_a_streamed_response_is_kept_before_it_completes(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{GROQ}/chat/completions").mock(return_value=sse("groq/stream_text.sse"))
    events = parse_events(client.post("/v1/responses", json={**ASK, "stream": True}).content)
    final = events[-1].response
    kept = client.get(f"/v1/responses/{final.id}").json()
    assert kept["status"] == "completed" and kept["output_text"] == final.output_text


def test_a_kept_response_belongs_to_the_key_that_made_it(
    tmp_path: Path, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{GROQ}/chat/completions").respond(200, json=fixture("groq/response_text.json"))
    settings = make_settings(tmp_path, GROQ_API_KEY="gsk_owner_0001", LLM_AGG_REQUIRE_AUTH="1")
    with serve(settings) as client:
        mine, theirs = (
            {
                "authorization": "Bearer "
                + client.post("/admin/keys", json={}, headers=ADMIN).json()["key"]
            }
            for _ in range(2)
        )
        made = client.post("/v1/responses", json=ASK, headers=mine).json()
        path = f"/v1/responses/{made['id']}"
        assert_openai_error(client.get(path, headers=theirs), 404)
        assert_openai_error(client.delete(path, headers=theirs), 404)
        follow = {**ASK, "previous_response_id": made["id"]}
        assert_openai_error(client.post("/v1/responses", json=follow, headers=theirs), 400)
        assert_openai_error(client.get(path), 401)
        assert client.get(path, headers=mine).status_code == 200
        deleted = client.delete(path, headers=mine).json()
        assert deleted == {"id": made["id"], "object": "response", "deleted": True}
        assert_openai_error(client.get(path, headers=mine), 404)


def test_a_websocket_upgrade_is_refused_with_426_so_codex_falls_back_to_http(
    client: TestClient,
) -> None:
    # A server with a WebSocket library: the handshake reaches the app as a WebSocket.
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect(PATH):
        pass
    assert denied.value.status_code == 426
    assert denied.value.json()["error"]["code"] == "upgrade_required"
    # Without one (the default install), the same handshake arrives as a plain GET.
    upgrade = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13"}
    error = assert_openai_error(client.get("/v1/responses", headers=upgrade), 426)
    assert error["code"] == "upgrade_required"
    assert_openai_error(client.get("/v1/responses"), 405)


def test_a_failing_store_still_answers_and_reads_are_a_503(
    client: TestClient, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream.post(f"{GROQ}/chat/completions").respond(200, json=fixture("groq/response_text.json"))

    def down(*_: object) -> None:
        raise StoreError("sqlite: OperationalError: disk I/O error")

    monkeypatch.setattr(SQLiteResponses, "get", down)
    monkeypatch.setattr(SQLiteResponses, "put", down)
    made = client.post(PATH, json=ASK)
    assert made.status_code == 200 and made.json()["output_text"]
    error = assert_openai_error(client.get(f"{PATH}/{made.json()['id']}"), 503)
    assert error["code"] == "store_unavailable" and "sqlite" not in error["message"]
    follow = {**ASK, "previous_response_id": made.json()["id"]}
    assert_openai_error(client.post(PATH, json=follow), 503)


def test_a_conversation_too_large_to_keep_is_refused_before_any_provider_is_asked(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{GROQ}/chat/completions").respond(
        200, json=fixture("groq/response_text.json")
    )
    noise = base64.b64encode(os.urandom(600 * 1024)).decode()  # compresses to ~600 KB
    error = assert_openai_error(client.post(PATH, json={**ASK, "input": noise}), 413)
    assert (error["param"], error["code"]) == ("store", "conversation_too_large")
    assert "store" in error["message"] and not route.called
    # Not kept, the same input is served.
    assert client.post(PATH, json={**ASK, "input": noise, "store": False}).status_code == 200
