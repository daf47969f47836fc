"""No key ever reaches a log line, stdout/stderr, an error message or a response: a run that
adds keys (one refused by the provider), uses them, fails with them and deletes them is
captured whole and searched for every key string."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import respx

from tests.functional.gateway import (
    ADMIN,
    ADMIN_KEY,
    CEREBRAS,
    GROQ,
    add_account,
    chat,
    fixture,
    make_settings,
    serve,
)

GOOD = "gsk_good_key_never_logged_a1b2c3"
REFUSED = "gsk_refused_key_never_logged_d4e5f6"
FAILING = "gsk_failing_key_never_logged_778899"
ENV_GROQ = "gsk_env_key_never_logged_000111"
ENV_CEREBRAS = "csk_env_key_never_logged_222333"


def _key_of(request: httpx.Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def _models(request: httpx.Request) -> httpx.Response:
    key = _key_of(request)
    if key == REFUSED:  # providers do echo keys back in their errors
        return httpx.Response(401, json={"error": {"message": f"Invalid API Key {key}"}})
    return httpx.Response(200, json=fixture("groq/models_list.json"))


def _groq_chat(request: httpx.Request) -> httpx.Response:
    key = _key_of(request)
    return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {key}"}})


def test_no_key_in_any_output_of_a_full_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    settings = make_settings(
        tmp_path, GROQ_API_KEY=ENV_GROQ, CEREBRAS_API_KEY=ENV_CEREBRAS, LLM_AGG_REQUIRE_AUTH="1"
    )
    with respx.mock(assert_all_called=True) as upstream, serve(settings) as client:
        upstream.get(f"{GROQ}/models").mock(side_effect=_models)
        upstream.post(f"{GROQ}/chat/completions").mock(side_effect=_groq_chat)
        upstream.post(f"{CEREBRAS}/chat/completions").respond(
            200, json=fixture("groq/response_text.json")
        )

        def keep(response: httpx.Response) -> httpx.Response:
            seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")
            return response

        assert keep(add_account(client, "groq", "good", GOOD, verify=True)).status_code == 201
        assert keep(add_account(client, "groq", "bad", REFUSED, verify=True)).status_code == 400
        assert keep(add_account(client, "groq", "failing", FAILING)).status_code == 201
        created = keep(client.post("/admin/keys", json={"name": "n"}, headers=ADMIN))
        gateway_key = created.json()["key"]
        seen.pop()  # the one response that must show the key: its creation

        # groq refuses every key (echoing it), so each request fails over to cerebras.
        served = keep(chat(client, gateway_key))
        assert served.status_code == 200 and served.headers["x-llm-agg-provider"] == "cerebras"
        keep(chat(client, gateway_key, provider="groq"))  # groq only: every attempt fails
        keep(chat(client, gateway_key + "x"))
        keep(chat(client, ENV_GROQ))
        keep(client.get("/admin/credentials", headers=ADMIN))
        keep(client.get("/admin/providers", headers=ADMIN))
        keep(client.get("/admin/keys", headers={"authorization": f"Bearer {gateway_key}"}))
        keep(client.get("/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}x"}))
        keep(client.delete("/admin/credentials/groq/good", headers=ADMIN))
        attempts = [c.request for c in upstream.calls]

    assert {_key_of(r) for r in attempts} >= {GOOD, REFUSED, FAILING, ENV_GROQ, ENV_CEREBRAS}
    assert "attempt failed" in caplog.text  # the failures were logged, without their keys
    out = capsys.readouterr()
    everything = "\n".join([caplog.text, out.out, out.err, *seen])
    for secret in (GOOD, REFUSED, FAILING, ENV_GROQ, ENV_CEREBRAS, gateway_key, ADMIN_KEY):
        assert secret not in everything, f"a key leaked: {secret[:8]}…"
