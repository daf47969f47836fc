"""The buffered functions invoked as Lambda invokes them: a REST (v1) event and a context, with
the stack's environment, DynamoDB and KMS from moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.aws.conftest import LambdaContext, output_lines, rest_event


def _invoke_health(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    import health_function

    result: dict[str, Any] = health_function.handler(event, context)
    return result


@pytest.fixture
def health(
    lambda_env: Callable[[str], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> LambdaContext:
    import health_function

    env = lambda_env("HealthFunction")
    monkeypatch.setattr(health_function, "_handler", None)  # a fresh execution environment
    return LambdaContext(function_name=env["AWS_LAMBDA_FUNCTION_NAME"])


def test_health_answers_a_rest_event_with_the_provider_summary(health: LambdaContext) -> None:
    response = _invoke_health(rest_event("health_get"), health)

    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["isBase64Encoded"] is False
    body = json.loads(response["body"])
    assert body["status"] == "ok"
    assert body["store"] == "dynamodb"
    assert body["ready"] is False  # no provider key in this environment
    assert body["providers"]["groq"] == {
        "configured": False,
        "supported": True,
        "accounts": 0,
        "cooling_down": [],
    }


def test_health_logs_json_keyed_by_lambda_and_api_gateway_request_ids(
    health: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    event = rest_event("health_get")
    _invoke_health(event, health)
    second = LambdaContext(health.function_name, aws_request_id="second-invocation")
    _invoke_health(event, second)

    logs = [line for line in output_lines(capsys.readouterr().out) if "message" in line]
    assert [log["message"] for log in logs] == ["request", "request"]
    first, then = logs
    assert first["service"] == "health"
    assert first["level"] == "INFO"
    assert first["function_request_id"] == health.aws_request_id
    assert first["correlation_id"] == event["requestContext"]["requestId"]
    assert first["function_name"] == health.function_name
    assert (first["method"], first["path"], first["status"]) == ("GET", "/health", 200)
    assert first["cold_start"] is True
    assert then["cold_start"] is False
    assert then["function_request_id"] == "second-invocation"


def test_health_emits_request_metrics_in_embedded_metric_format(
    health: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    _invoke_health(rest_event("health_get"), health)

    metrics = [line for line in output_lines(capsys.readouterr().out) if "_aws" in line]
    assert len(metrics) == 1
    emf = metrics[0]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "LLMAggregator"
    assert directive["Dimensions"] == [["service"]]
    assert {m["Name"] for m in directive["Metrics"]} == {
        "http_requests",
        "http_errors",
        "http_latency",
    }
    assert emf["service"] == "health"
    assert emf["http_requests"] == [1.0]
    assert emf["http_errors"] == [0.0]
    assert emf["http_latency"][0] > 0


def test_health_refuses_a_wrong_method_in_openai_shape(health: LambdaContext) -> None:
    event = rest_event("health_get", httpMethod="POST", body="{}")
    response = _invoke_health(event, health)

    assert response["statusCode"] == 405
    error = json.loads(response["body"])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
