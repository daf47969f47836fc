"""The admin function's Lambda entry: an API Gateway (REST) event through Mangum."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.gateway import ADMIN_KEY, Handler


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


def test_admin_lambda_answers_api_gateway_events(admin_lambda: Handler) -> None:
    handler = admin_lambda
    refused = handler(rest_event("GET", "/admin/keys", {"host": "x"}), None)
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"])["error"]["type"] == "authentication_error"

    admin = {"host": "x", "authorization": f"Bearer {ADMIN_KEY}"}
    created = handler(rest_event("POST", "/admin/keys", admin, '{"name": "lambda"}'), None)
    assert created["statusCode"] == 201
    listing = handler(rest_event("GET", "/admin/keys", admin), None)
    assert [k["name"] for k in json.loads(listing["body"])["data"]] == ["lambda"]
