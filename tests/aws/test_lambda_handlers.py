"""The buffered functions invoked as Lambda invokes them: recorded REST (v1) events and a
context, with the stack's environment and its DynamoDB tables and KMS key in moto."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

import admin_function
import health_function
from llm_agg.apps.lambda_entry import mangum_handler
from tests.aws import stack
from tests.aws.conftest import REGION, LambdaContext, admin_event, output_lines, rest_event
from tests.support.runtimes import Built

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
STORED_KEY = "gsk_sealed_by_admin_lambda_0004"


Started = tuple[Handler, LambdaContext]


@pytest.fixture
def cold_start(
    lambda_env: Callable[[str], dict[str, str]],
) -> Iterator[Callable[[str, Callable[[], Any]], Started]]:
    """A new execution environment of a function: its Lambda environment, its Mangum entry
    made afresh, and a context naming it."""

    made: list[Built] = []

    def start(function: str, build_app: Callable[[], Any]) -> Started:
        env = lambda_env(function)
        made.append(Built(build_app))
        return mangum_handler(made[-1]), LambdaContext(env["AWS_LAMBDA_FUNCTION_NAME"])

    yield start
    for built in made:
        asyncio.run(built.aclose())


@pytest.fixture
def health(cold_start: Callable[[str, Callable[[], Any]], Started]) -> Started:
    return cold_start("HealthFunction", health_function.build_app)


@pytest.fixture
def admin(cold_start: Callable[[str, Callable[[], Any]], Started]) -> Started:
    return cold_start("AdminFunction", admin_function.build_app)


def _raw_items(table: str) -> str:
    """Everything stored in ``table``, as DynamoDB holds it."""
    client = boto3.client("dynamodb", region_name=REGION)
    items = client.scan(TableName=stack.deployed_names()[table])["Items"]
    return json.dumps(items, default=str)


# --- health --------------------------------------------------------------------------------


def test_health_is_liveness_only_to_a_caller_without_a_key(health: Started) -> None:
    handler, context = health
    response = handler(rest_event("health_get"), context)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}


def test_health_answers_a_rest_event_with_the_provider_summary(
    health: Started, admin: Started
) -> None:
    made = admin[0](rest_event("admin_keys_post"), admin[1])
    key = json.loads(made["body"])["key"]
    handler, context = health
    event = rest_event("health_get")
    event["headers"]["Authorization"] = f"Bearer {key}"
    event["multiValueHeaders"] = {
        **(event.get("multiValueHeaders") or {}),
        "Authorization": [f"Bearer {key}"],
    }
    response = handler(event, context)

    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["isBase64Encoded"] is False
    body = json.loads(response["body"])
    assert body["status"] == "ok"
    assert body["store"] == "dynamodb"
    assert body["ready"] is False  # no provider key in this environment
    assert body["providers"]["groq"]["configured"] is False


def test_health_logs_json_keyed_by_lambda_and_api_gateway_request_ids(
    health: Started, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, context = health
    event = rest_event("health_get")
    handler(event, context)
    handler(event, LambdaContext(context.function_name, aws_request_id="second-invocation"))

    logs = [line for line in output_lines(capsys.readouterr().out) if "message" in line]
    assert [log["message"] for log in logs] == ["request", "request"]
    first, then = logs
    assert first["service"] == "health"
    assert first["level"] == "INFO"
    assert first["function_request_id"] == context.aws_request_id
    assert first["correlation_id"] == event["requestContext"]["requestId"]
    assert first["function_name"] == context.function_name
    assert (first["method"], first["path"], first["status"]) == ("GET", "/health", 200)
    assert first["cold_start"] is True
    assert then["cold_start"] is False
    assert then["function_request_id"] == "second-invocation"


def test_health_emits_request_metrics_in_embedded_metric_format(
    health: Started, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, context = health
    handler(rest_event("health_get"), context)

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


def test_health_refuses_a_wrong_method_in_openai_shape(
    health: Started,
) -> None:
    handler, context = health
    response = handler(rest_event("health_get", httpMethod="POST", body="{}"), context)

    assert response["statusCode"] == 405
    error = json.loads(response["body"])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


# --- admin ---------------------------------------------------------------------------------


def test_admin_refuses_a_wrong_admin_key_in_openai_shape(
    admin: Started,
) -> None:
    handler, context = admin
    response = handler(admin_event("GET", "/admin/keys", key="not-the-admin-key"), context)

    assert response["statusCode"] == 401
    assert response["headers"]["content-type"] == "application/json"
    error = json.loads(response["body"])["error"]
    assert error["type"] == "authentication_error"
    assert "not-the-admin-key" not in response["body"]


def test_admin_makes_a_gateway_key_shown_once_and_stored_as_a_hash(
    admin: Started,
) -> None:
    handler, context = admin
    made = handler(rest_event("admin_keys_post"), context)

    assert made["statusCode"] == 201
    created = json.loads(made["body"])
    assert created["key"].startswith("sk-llmagg-")
    assert created["name"] == "my-app"
    assert created["key"] not in _raw_items("CredentialsTable")
    listed = handler(admin_event("GET", "/admin/keys"), context)
    assert [key["name"] for key in json.loads(listed["body"])["data"]] == ["my-app"]
    assert created["key"] not in listed["body"]


def test_admin_seals_a_credential_into_the_template_table_with_the_stack_key(
    admin: Started,
) -> None:
    handler, context = admin
    body = {"provider": "groq", "account_id": "a1", "api_key": STORED_KEY, "verify": False}
    added = handler(admin_event("POST", "/admin/credentials", body), context)

    assert added["statusCode"] in (200, 201), added["body"]
    assert STORED_KEY not in added["body"]
    raw = _raw_items("CredentialsTable")
    assert "groq" in raw and "a1" in raw
    assert STORED_KEY not in raw  # sealed: a KMS-wrapped data key and AES-GCM
    listed = handler(admin_event("GET", "/admin/credentials"), context)
    assert listed["statusCode"] == 200
    assert STORED_KEY not in listed["body"]
    accounts = json.loads(listed["body"])["data"]
    assert [(a["provider"], a["account_id"]) for a in accounts] == [("groq", "a1")]


def test_admin_logs_and_measures_under_its_own_service(
    admin: Started, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, context = admin
    event = rest_event("admin_keys_post")
    handler(event, context)

    lines = output_lines(capsys.readouterr().out)
    request = next(line for line in lines if line.get("message") == "request")
    assert request["service"] == "admin"
    assert request["function_request_id"] == context.aws_request_id
    assert request["correlation_id"] == event["requestContext"]["requestId"]
    assert (request["path"], request["status"]) == ("/admin/keys", 201)
    emf = next(line for line in lines if "_aws" in line)
    assert emf["service"] == "admin" and emf["http_requests"] == [1.0]
    assert json.loads(handler(admin_event("GET", "/admin/keys"), context)["body"])["data"]
    assert stack.ADMIN_KEY not in capsys.readouterr().out
