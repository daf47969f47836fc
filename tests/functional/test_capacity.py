"""GET /admin/capacity: what the configured keys are worth, counted per real quota."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import respx

from llm_agg_local.router_cli import capacity_rows
from tests.functional.gateway import ADMIN, add_account, chat, make_settings, serve

CATALOG = """
providers:
  groq:
    models:
      - {id: fake-model, quality: 4, limits: {rpm: 30, rpd: 1000, tpm: 6000}}
  gemini:
    models:
      - {id: gemini-2.5-flash, quality: 4, limits: {rpm: 5, rpd: 20, tpm: 250000}}
      - {id: paid-model, free: false}
  openrouter:
    limits: {rpm: 20, rpd: 50}
    models:
      - {id: "some/model:free"}
"""


def capacity_of(tmp_path: Path, catalog: str = CATALOG) -> dict[str, Any]:
    config = tmp_path / "providers.yaml"
    config.write_text(catalog)
    keys = {"GROQ_API_KEY": "gsk_cap_0001", "GEMINI_API_KEY": "AIza_cap_0002"}
    settings = make_settings(tmp_path, LLM_AGG_CONFIG=str(config), **keys)
    with serve(settings) as client, respx.mock(assert_all_called=False) as upstream:
        upstream.post("https://groq.test/openai/v1/chat/completions").respond(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "fake-model",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            },
        )  # fmt: skip
        assert add_account(client, "groq", "second", "gsk_cap_0003").status_code == 201
        assert add_account(client, "gemini", "second", "AIza_cap_0004").status_code == 201
        assert chat(client, model="groq/fake-model").status_code == 200
        response = client.get("/admin/capacity", headers=ADMIN)
    assert response.status_code == 200, response.text
    data = {p["provider"]: p for p in response.json()["data"]}
    return data


def windows(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in entry["windows"]}


def test_keys_of_one_project_are_one_quota_and_keys_of_two_organisations_two(
    tmp_path: Path,
) -> None:
    data = capacity_of(tmp_path)
    assert set(data) == {"groq", "gemini"}  # the configured ones only
    gemini = data["gemini"]
    assert (gemini["accounts"], gemini["quotas"], gemini["quota_scope"]) == (2, 1, "project")
    (flash,) = gemini["models"]  # free models only
    assert windows(flash)["rpd"] == {**windows(flash)["rpd"], "per_quota": 20, "total": 20}
    groq = data["groq"]
    assert (groq["accounts"], groq["quotas"]) == (2, 2)
    (model,) = groq["models"]
    rpd = windows(model)["rpd"]
    assert (rpd["total"], rpd["left"]) == (2000, 1999)  # one request spent today
    assert capacity_rows(list(data.values()))[1][:3] == (
        "gemini",
        "gemini-2.5-flash",
        "1 (2 keys, per project)",
    )


def test_accounts_named_to_projects_hold_their_own_quotas(tmp_path: Path) -> None:
    named = "\n  gemini:\n    quota_groups: {env: proj-a, second: proj-b}\n"
    data = capacity_of(tmp_path, CATALOG.replace("\n  gemini:\n", named, 1))
    assert data["gemini"]["quotas"] == 2
    (flash,) = data["gemini"]["models"]
    assert windows(flash)["rpd"]["total"] == 40
