"""moto's DynamoDB and KMS laid out as template.yaml lays out AWS, and a Lambda environment."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import admin_function
from llm_agg import observability
from llm_agg.apps.lambda_entry import mangum_handler
from tests.aws import stack
from tests.aws.stack import ROOT, TABLES
from tests.e2e.harness import (
    BIN,
    FakeUpstream,
    Process,
    free_port,
    start,
    start_fake_upstream,
)
from tests.support.runtimes import Built

EVENTS = Path(__file__).parent / "events"
# The provider key the admin function stores for the functions that run.sh starts.
STORED_KEY = "gsk_sealed_for_run_sh_0005"
REGION = "us-east-1"


@dataclass
class LambdaContext:
    """The parts of the Lambda context object that Mangum and Powertools read."""

    function_name: str
    aws_request_id: str = "0f5c2a61-7d3e-4b8a-9e2f-6c1d8b4a7e90"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 9_000


def rest_event(name: str, **changes: Any) -> dict[str, Any]:
    """A recorded API Gateway REST (v1) proxy event from tests/aws/events, with ``changes``."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event.update(changes)
    return event


FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def lay_out_stack(endpoint: str | None = None) -> str:
    """Make the template's tables (keys, TTL) and a KMS key; returns the key's ARN."""
    import boto3

    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    names = stack.deployed_names()
    for table in TABLES:
        props = stack.properties(table)
        dynamodb.create_table(
            TableName=names[table],
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props["BillingMode"],
        )
        if "TimeToLiveSpecification" in props:
            dynamodb.update_time_to_live(
                TableName=names[table], TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
    kms = boto3.client("kms", region_name=REGION, endpoint_url=endpoint)
    arn: str = kms.create_key(Description="llm-agg test")["KeyMetadata"]["Arn"]
    return arn


def admin_event(
    method: str, path: str, body: dict[str, Any] | None = None, key: str = stack.ADMIN_KEY
) -> dict[str, Any]:
    """The recorded admin event, for another method, path, body or admin key."""
    event = rest_event("admin_keys_post", httpMethod=method, path=path)
    event["body"] = json.dumps(body) if body is not None else None
    event["pathParameters"] = {"proxy": path.removeprefix("/admin/")}
    event["headers"]["Authorization"] = f"Bearer {key}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {key}"]
    event["requestContext"].update(httpMethod=method, path=f"/dev{path}")
    return event


def hosted_env(function: str, key_arn: str, endpoint: str | None = None) -> dict[str, str]:
    """``function``'s Lambda environment from the template, for this machine: the catalog the
    layer ships, no provider key from the developer's shell, AWS at ``endpoint`` if given."""
    env = stack.function_env(function, key_arn)
    # The layer ships this very file at /opt/python/llm_agg/providers.yaml.
    env["LLM_AGG_CONFIG"] = str(ROOT / "layers/common/llm_agg/providers.yaml")
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return {**FAKE_CREDENTIALS, **env}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto in this process, laid out as the template lays out AWS; yields the key's ARN."""
    from moto import mock_aws

    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield lay_out_stack()


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    key_arn: str


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto as a server on loopback, for processes that reach AWS over HTTP (run.sh)."""
    port = free_port()
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    process = start(args, port, "/moto-api/data.json", log, FAKE_CREDENTIALS)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in FAKE_CREDENTIALS.items():
                patch.setenv(name, value)
            yield MotoServer(process.url, lay_out_stack(process.url))
    finally:
        process.stop()


@pytest.fixture
def lambda_env(aws: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], dict[str, str]]:
    """Sets the environment Lambda gives a function of the stack, with in-process moto."""

    def apply(function: str) -> dict[str, str]:
        for name in list(os.environ):
            if name.endswith(("_API_KEY", "_BASE_URL")):
                monkeypatch.delenv(name)
        env = hosted_env(function, aws)
        env["AWS_LAMBDA_FUNCTION_NAME"] = stack.function_name(function)
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(stack.properties(function)["MemorySize"])
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return apply


@pytest.fixture(autouse=True)
def _fresh_observability(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sets Powertools up anew and leaves the package's logging as it found it."""
    monkeypatch.setattr(observability, "_observer", None)
    # Powertools keeps a configured logger per service (and its stream) for the process.
    for service in ("chat", "agent", "admin", "health"):
        logging.root.manager.loggerDict.pop(service, None)
    package = logging.getLogger("llm_agg")
    saved = (package.handlers[:], package.level, package.propagate)
    yield
    package.handlers, package.propagate = saved[0], saved[2]
    package.setLevel(saved[1])


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    """The scriptable fake provider on a loopback port, one per test module."""
    fake = start_fake_upstream(tmp_path_factory.mktemp("upstream"))
    yield fake
    fake.process.stop()


@pytest.fixture(scope="module")
def gateway_key(moto_server: MotoServer) -> str:
    """Provisioned as a deployment is (README): the admin function stores a groq account,
    sealed with the stack's KMS key, and makes a gateway key. Returns that key."""
    env = hosted_env("AdminFunction", moto_server.key_arn, moto_server.endpoint)
    context = LambdaContext(stack.function_name("AdminFunction"))
    account = {"provider": "groq", "account_id": "a1", "api_key": STORED_KEY, "verify": False}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        built = Built(admin_function.build_app)
        handler = mangum_handler(built)
        added = handler(admin_event("POST", "/admin/credentials", account), context)
        made = handler(admin_event("POST", "/admin/keys", {"name": "run-sh"}), context)
        asyncio.run(built.aclose())
    assert added["statusCode"] in (200, 201), added["body"]
    assert made["statusCode"] == 201, made["body"]
    key: str = json.loads(made["body"])["key"]
    return key


def start_function(
    function: str, log_dir: Path, upstream: FakeUpstream, moto_server: MotoServer
) -> Process:
    """``function``'s run.sh on a free loopback port, as the adapter starts it: the function's
    environment from the translated template, its tables and key in the moto server, the
    adapter's port, and the task root. Its only provider account is the stored one."""
    port = free_port()
    env = hosted_env(function, moto_server.key_arn, moto_server.endpoint)
    clean = {k: "" for k in os.environ if k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        {
            "AWS_LWA_PORT": str(port),
            "LAMBDA_TASK_ROOT": str(stack.code_dir(function)),
            "AWS_LAMBDA_FUNCTION_NAME": stack.function_name(function),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(stack.properties(function)["MemorySize"]),
            "PATH": f"{BIN}:{os.environ['PATH']}",
            # The catalog of the fake upstream instead of /opt/python/llm_agg/providers.yaml.
            "LLM_AGG_CONFIG": str(ROOT / "tests/e2e/providers.yaml"),
            "GROQ_BASE_URL": upstream.base_url("groq"),
        }
    )
    script = str(stack.code_dir(function) / "run.sh")
    log = log_dir / f"{function}-{port}.log"
    return start([script], port, env["AWS_LWA_READINESS_CHECK_PATH"], log, {**clean, **env})


def request_lines(process: Process, path: str, status: int | None = None) -> list[dict[str, Any]]:
    """The "request" log lines a function wrote for ``path`` (answered ``status``). Each is
    written once its response has gone, so a client may read the answer first: wait for it."""
    deadline = time.monotonic() + 5
    while True:
        lines = output_lines(process.output())
        found = [
            line
            for line in lines
            if line.get("message") == "request"
            and line["path"] == path
            and status in (None, line["status"])
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def output_lines(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a function's stdout (logs and EMF metrics)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines
