"""The admin function's Lambda entry: an API Gateway (REST) event through Mangum."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import admin_function
from llm_agg.apps.lambda_entry import mangum_handler
from llm_agg.runtime import close_runtimes
from tests.functional.gateway import ADMIN_KEY, ROOT


def rest_event(method: str, path: str, headers: dict[str, str], body: str | None = None) -> Any:
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def test_admin_lambda_answers_api_gateway_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_AGG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLM_AGG_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("LLM_AGG_CONFIG", str(ROOT / "tests/e2e/providers.yaml"))
    handler = mangum_handler(admin_function.build_app)
    try:
        refused = handler(rest_event("GET", "/admin/keys", {"host": "x"}), None)
        assert refused["statusCode"] == 401
        assert json.loads(refused["body"])["error"]["type"] == "authentication_error"

        admin = {"host": "x", "authorization": f"Bearer {ADMIN_KEY}"}
        created = handler(rest_event("POST", "/admin/keys", admin, '{"name": "lambda"}'), None)
        assert created["statusCode"] == 201
        listing = handler(rest_event("GET", "/admin/keys", admin), None)
        assert [k["name"] for k in json.loads(listing["body"])["data"]] == ["lambda"]
    finally:
        asyncio.run(close_runtimes())
