"""What AWS gets from template.yaml: the translated CloudFormation, checked offline."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from llm_agg.openapi import openapi_document
from tests.aws import stack
from tests.aws.conftest import FAKE_CREDENTIALS
from tests.aws.stack import BUFFERED, CREDENTIAL_CONTEXT, FUNCTIONS, ROOT, STREAMING, TABLES

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def route_for(path: str, method: str) -> tuple[str, str] | None:
    """The API route API Gateway picks for a request (exact paths before {proxy+})."""
    routes = stack.routes()
    candidates = [(path, method), (path, "X-AMAZON-APIGATEWAY-ANY-METHOD")]
    for route_path, route_method in routes:
        prefix = route_path.removesuffix("/{proxy+}")
        if route_path.endswith("{proxy+}") and path.startswith(prefix + "/"):
            candidates.append((route_path, route_method))
        # A path parameter ({response_id}) takes one segment.
        pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(route_path))
        if "{proxy+}" not in route_path and re.fullmatch(pattern, path):
            candidates.append((route_path, route_method))
    for candidate in candidates:
        if candidate in routes and candidate[1] in (method, "X-AMAZON-APIGATEWAY-ANY-METHOD"):
            return candidate
    return None


# --- the API -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "function"),
    [
        ("POST", "/v1/chat/completions", "ChatFunction"),
        ("GET", "/v1/models", "ChatFunction"),
        ("POST", "/v1/messages", "ChatFunction"),
        ("POST", "/v1/messages/count_tokens", "ChatFunction"),
        ("POST", "/v1/responses", "ChatFunction"),
        ("GET", "/v1/responses", "ChatFunction"),
        ("GET", "/v1/responses/resp_abc123", "ChatFunction"),
        ("DELETE", "/v1/responses/resp_abc123", "ChatFunction"),
        ("GET", "/v1/responses/resp_abc123/input_items", "ChatFunction"),
        ("POST", "/v1/agents/code/invoke", "AgentFunction"),
        ("POST", "/v1/agents/resume", "AgentFunction"),
        ("POST", "/admin/credentials", "AdminFunction"),
        ("GET", "/admin/credentials", "AdminFunction"),
        ("DELETE", "/admin/credentials/groq/a1", "AdminFunction"),
        ("GET", "/admin/providers", "AdminFunction"),
        ("GET", "/admin/usage-stats", "AdminFunction"),
        ("POST", "/admin/keys", "AdminFunction"),
        ("GET", "/ui", "AdminFunction"),
        ("GET", "/ui/app.js", "AdminFunction"),
        ("GET", "/openapi.json", "AdminFunction"),
        ("GET", "/", "AdminFunction"),
        ("GET", "/health", "HealthFunction"),
    ],
)
def test_every_public_route_reaches_its_function(method: str, path: str, function: str) -> None:
    route = route_for(path, method)
    assert route is not None, f"{method} {path} has no route"
    assert stack.integrated_function(stack.routes()[route]) == function


def test_every_route_the_openapi_document_describes_has_a_route_on_aws() -> None:
    described = [
        (method.upper(), re.sub(r"\{[^}]+\}", "x1", path))
        for path, methods in openapi_document()["paths"].items()
        for method in methods
    ]
    assert len(described) >= 16
    missing = [(m, p) for m, p in described if route_for(p, m) is None]
    assert not missing, f"described but not routed by template.yaml: {missing}"


def test_streaming_functions_answer_through_response_streaming_invocations() -> None:
    streamed = {
        route: integration
        for route, integration in stack.routes().items()
        if stack.integrated_function(integration) in STREAMING
    }
    assert len(streamed) == 11  # chat: completions, models, 2 of messages, 5 of responses; agent: 2
    for route, integration in streamed.items():
        function = stack.integrated_function(integration)
        assert integration["type"] == "aws_proxy", route
        assert integration["uri"]["Fn::Sub"].endswith(
            f"/2021-11-15/functions/${{{function}.Arn}}/response-streaming-invocations"
        ), route
        assert integration["responseTransferMode"] == "STREAM", route
        assert integration["timeoutInMillis"] == 900000, route


def test_buffered_functions_answer_through_plain_invocations() -> None:
    for route, integration in stack.routes().items():
        function = stack.integrated_function(integration)
        if function in BUFFERED:
            assert integration["uri"]["Fn::Sub"].endswith(
                f"/2015-03-31/functions/${{{function}.Arn}}/invocations"
            ), route
            assert "responseTransferMode" not in integration, route


def test_the_api_is_one_regional_rest_api_with_the_stage_in_its_url() -> None:
    apis = [r for r in stack.cloudformation()["Resources"].values() if "ApiGateway" in r["Type"]]
    assert {r["Type"] for r in apis} == {
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
    }
    assert stack.properties("Api")["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    url = stack.cloudformation()["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
    assert url == "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"


def test_api_gateway_own_errors_are_openai_shaped() -> None:
    responses = stack.properties("Api")["Body"]["x-amazon-apigateway-gateway-responses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED"} <= set(
        responses
    )
    for kind, response in responses.items():
        rendered = (
            response["responseTemplates"]["application/json"]
            .replace("$context.error.messageString", json.dumps("Too Many Requests"))
            .replace("$context.error.responseType", kind)
        )
        error = json.loads(rendered)["error"]
        assert set(error) == {"message", "type", "param", "code"}, kind
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"


# --- the functions -------------------------------------------------------------------------


def test_streaming_functions_run_uvicorn_behind_the_web_adapter() -> None:
    for function in STREAMING:
        props = stack.properties(function)
        env = props["Environment"]["Variables"]
        assert props["Handler"] == "run.sh"
        assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
        # Anything else, "RESPONSE_STREAM" or "stream" included, silently buffers.
        assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
        assert props["Timeout"] == 900
        adapter = [layer for layer in props["Layers"] if "Fn::Sub" in layer]
        assert len(adapter) == 1
        assert ":753240598075:layer:LambdaAdapterLayerArm64:" in adapter[0]["Fn::Sub"]
        own_paths = {
            path
            for (path, _), integration in stack.routes().items()
            if stack.integrated_function(integration) == function
        }
        assert env["AWS_LWA_READINESS_CHECK_PATH"] in own_paths


def test_buffered_functions_are_mangum_handlers_without_the_adapter() -> None:
    for function in BUFFERED:
        props = stack.properties(function)
        module = props["Handler"].removesuffix(".handler")
        assert props["Handler"] == f"{module}.handler"
        assert not [name for name in props["Environment"]["Variables"] if "LWA" in name]
        assert "AWS_LAMBDA_EXEC_WRAPPER" not in props["Environment"]["Variables"]


def test_functions_run_python313_on_arm64_with_the_common_layer() -> None:
    layer = stack.source()["Resources"]["CommonLayer"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/common"
    assert (ROOT / "layers/common/requirements.txt").is_file()
    assert (ROOT / "layers/common/llm_agg/__init__.py").is_file()  # flat layout: no python/
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    layer_ref = next(
        name for name in stack.cloudformation()["Resources"] if name.startswith("CommonLayer")
    )
    for function in FUNCTIONS:
        props = stack.properties(function)
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert {"Ref": layer_ref} in props["Layers"]


def test_the_layer_is_built_from_its_hashed_lock_for_python313_on_arm64() -> None:
    # sam build's python3.13 builder fetches arm64 wheels by name and version, unchecked; the
    # layer's Makefile installs everything in one pip command that checks every hash.
    layer = stack.source()["Resources"]["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "layers/common/Makefile").read_text()
    recipe = makefile.split("build-CommonLayer:", 1)[1]
    command = " ".join(recipe.replace("\\\n", " ").split())
    for part in (
        "--require-hashes",
        "--only-binary=:all:",
        "--python-version 3.13",
        "--abi cp313",
        '--target "$(LAYER)"',
        "-r requirements.txt",
    ):
        assert part in command, part
    assert "manylinux_2_$(minor)_aarch64" in makefile
    assert "LAYER := $(ARTIFACTS_DIR)/python" in makefile  # where Lambda's /opt/python comes from


def test_the_layer_ships_its_modules_compiled_and_lambda_uses_them(tmp_path: Path) -> None:
    # /opt is read-only on Lambda: a module without its .pyc is compiled again at every cold
    # start. The layer's recipe compiles everything pip and llm_agg put in it, last.
    makefile = (ROOT / "layers/common/Makefile").read_text()
    recipe = makefile.split("build-CommonLayer:", 1)[1].split("\n\n", 1)[0]
    assert recipe.rstrip().endswith("$(CODE)")
    # `make code` lays llm_agg out and compiles it as build-CommonLayer does.
    make = ["make", "-s", "-C", str(ROOT / "layers/common"), "code"]
    variables = [f"ARTIFACTS_DIR={tmp_path}", f"PYTHON={sys.executable}"]
    subprocess.run([*make, *variables], check=True, capture_output=True)
    layer = tmp_path / "python"
    sources = sorted((layer / "llm_agg").rglob("*.py"))
    assert len(sources) > 50
    tag = sys.implementation.cache_tag
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        # PEP 552 flags: 0b01, checked against no source (a zip does not keep mtimes exactly).
        assert compiled.read_bytes()[4:8] == b"\x01\x00\x00\x00", compiled
    # The proof that the compiled files are what an import runs: with the source replaced by
    # something that cannot be compiled, llm_agg still imports from the layer.
    (layer / "llm_agg/routing/catalog.py").write_text("this is not Python\n")
    env = {**os.environ, "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"}
    probe = "import llm_agg.routing.catalog as c; print(c.parse_catalog.__name__)"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.stdout.strip() == "parse_catalog", done.stderr


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_handler_file_exists_and_its_module_imports(function: str) -> None:
    folder = stack.code_dir(function)
    handler = stack.properties(function)["Handler"]
    if handler == "run.sh":
        script = folder / "run.sh"
        assert script.is_file() and os.access(script, os.X_OK)
        modules = sorted(folder.glob("*_function.py"))
        attribute = "build_app"
    else:
        name, attribute = handler.rsplit(".", 1)
        modules = [path for path in [folder / f"{name}.py"] if path.exists()]
    if not modules:
        pytest.skip(f"{folder.relative_to(ROOT)} has no function module on this branch yet")
    assert len(modules) == 1, "run.sh serves the one *_function.py of its folder"
    module = _load(modules[0])
    assert callable(getattr(module, attribute))
    assert callable(module.build_app)


# --- state, keys and settings --------------------------------------------------------------


def test_tables_are_pk_sk_strings_on_demand_without_indexes() -> None:
    for table in TABLES:
        props = stack.properties(table)
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        assert props["AttributeDefinitions"] == [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ]
        assert "GlobalSecondaryIndexes" not in props and "LocalSecondaryIndexes" not in props


def test_credentials_survive_and_can_be_restored_runtime_state_expires() -> None:
    credentials = stack.resource("CredentialsTable")
    assert credentials["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }
    assert credentials["DeletionPolicy"] == "Retain"
    assert stack.properties("RuntimeTable")["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert "TimeToLiveSpecification" not in stack.properties("UsageTable")


def test_table_names_are_the_documented_ones_per_stage() -> None:
    names = stack.deployed_names("prod")
    assert [names[t] for t in TABLES] == [
        "llm-agg-credentials-prod",
        "llm-agg-runtime-prod",
        "llm-agg-usage-prod",
    ]


def test_every_function_gets_the_store_key_and_tables() -> None:
    names = stack.deployed_names()
    for function in FUNCTIONS:
        env = stack.function_env(function, KEY_ARN)
        assert env["LLM_AGG_STORE"] == "dynamodb"
        assert env["LLM_AGG_KMS_KEY_ID"] == KEY_ARN
        assert env["LLM_AGG_CREDENTIALS_TABLE"] == names["CredentialsTable"]
        assert env["LLM_AGG_RUNTIME_TABLE"] == names["RuntimeTable"]
        assert env["LLM_AGG_USAGE_TABLE"] == names["UsageTable"]
        assert env["LLM_AGG_REQUIRE_AUTH"] == "1"


def test_config_reaches_lambda_inside_the_layer() -> None:
    from llm_agg.routing.catalog import load_catalog

    where = stack.function_env("ChatFunction", KEY_ARN)["LLM_AGG_CONFIG"]
    # sam build puts layers/common/ under python/ of the layer, mounted at /opt.
    assert where.startswith("/opt/python/")
    shipped = ROOT / "layers/common" / where.removeprefix("/opt/python/")
    assert shipped.read_bytes() == (ROOT / "config/providers.yaml").read_bytes()
    assert load_catalog(shipped).models


def test_kms_key_rotates_and_is_used_only_with_the_credential_context() -> None:
    key = stack.resource("CredentialsKey")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    crypto = [s for s in statements if {"kms:Decrypt", "kms:GenerateDataKey"} & set(s["Action"])]
    assert len(crypto) == 1
    assert crypto[0]["Condition"] == CREDENTIAL_CONTEXT
    admin = [s for s in statements if s is not crypto[0]]
    assert not [a for s in admin for a in s["Action"] if a in ("kms:*", "kms:Decrypt")]
    alias = stack.properties("CredentialsKeyAlias")
    assert alias["AliasName"] == {"Fn::Sub": "alias/llm-agg-${Stage}"}


def test_parameters_reach_the_functions_that_use_them() -> None:
    parameters = stack.source()["Parameters"]
    assert set(parameters["Stage"]["AllowedValues"]) == {"dev", "prod"}
    assert parameters["AdminKey"]["NoEcho"] is True
    assert "Default" not in parameters["AdminKey"]
    for function in FUNCTIONS:
        variables = stack.properties(function)["Environment"]["Variables"]
        assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
        assert (variables.get("LLM_AGG_ADMIN_KEY") == {"Ref": "AdminKey"}) == (
            function == "AdminFunction"
        ), "only the admin function holds the admin key"
        assert ("LLM_AGG_AGENT_ROOTS" in variables) == (function == "AgentFunction")
    agent = stack.properties("AgentFunction")["Environment"]["Variables"]
    assert agent["LLM_AGG_AGENT_ROOTS"] == {"Ref": "AgentRoots"}


def test_each_function_logs_and_measures_under_its_own_service_name() -> None:
    for function in FUNCTIONS:
        env = stack.function_env(function, KEY_ARN)
        assert env["POWERTOOLS_SERVICE_NAME"] == re.sub("Function$", "", function).lower()
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "LLMAggregator"


def test_no_function_looks_for_pydantic_plugins_at_its_cold_start() -> None:
    # The layer ships none; looking reads every installed distribution's entry points.
    for function in FUNCTIONS:
        assert stack.function_env(function, KEY_ARN)["PYDANTIC_DISABLE_PLUGINS"] == "__all__"


# --- the code against the template --------------------------------------------------------


def test_settings_read_the_tables_and_key_the_template_passes() -> None:
    from llm_agg.settings import Settings

    names = stack.deployed_names()
    settings = Settings.from_env(stack.function_env("ChatFunction", KEY_ARN))
    assert settings.store == "dynamodb"
    assert settings.credentials_table == names["CredentialsTable"]
    assert settings.runtime_table == names["RuntimeTable"]
    assert settings.usage_table == names["UsageTable"]
    assert settings.kms_key_id == KEY_ARN


def test_the_store_code_lays_out_its_tables_as_the_template_declares_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from moto import mock_aws

    from llm_agg.settings import Settings
    from llm_agg.store.dynamodb import ensure_tables
    from llm_agg.store.factory import tables

    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    names = stack.deployed_names()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        # What the code makes where nobody else does (a local endpoint, moto).
        ensure_tables(
            client, tables(Settings.from_env(stack.function_env("AdminFunction", KEY_ARN)))
        )
        for table in TABLES:
            props = stack.properties(table)
            made = client.describe_table(TableName=names[table])["Table"]
            assert made["KeySchema"] == props["KeySchema"], table
            assert sorted(made["AttributeDefinitions"], key=str) == sorted(
                props["AttributeDefinitions"], key=str
            )
            assert made["BillingModeSummary"]["BillingMode"] == props["BillingMode"]
            assert not made.get("GlobalSecondaryIndexes") and not made.get("LocalSecondaryIndexes")
            ttl = client.describe_time_to_live(TableName=names[table])["TimeToLiveDescription"]
            declared = props.get("TimeToLiveSpecification")
            if declared:
                assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
                assert declared["AttributeName"] == "expires_at"
            else:
                assert ttl["TimeToLiveStatus"] == "DISABLED", table


def _calls_on_clients(path: Path, skip: set[str]) -> set[str]:
    """The boto3 operations a module calls (``….client.get_item(`` → ``GetItem``)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in skip
        for inner in ast.walk(node)
    }
    operations = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.Call):
            continue
        func = node.func
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if owner_name == "client" and not func.attr.startswith("get_waiter"):
            operations.add("".join(part.title() for part in func.attr.split("_")))
    return operations


def test_every_aws_call_the_code_makes_on_lambda_is_granted_to_some_function() -> None:
    layer = ROOT / "layers/common/llm_agg"
    # ensure_tables only runs against a local endpoint: in AWS the template makes the tables.
    dynamodb = _calls_on_clients(layer / "store/dynamodb.py", skip={"ensure_tables"})
    kms = _calls_on_clients(layer / "crypto/kms.py", skip=set())
    assert {"GetItem", "Query", "UpdateItem", "PutItem", "DeleteItem"} <= dynamodb
    assert kms == {"GenerateDataKey", "Decrypt"}
    granted = {
        action
        for function in FUNCTIONS
        for statement in stack.role_statements(function)
        for action in statement["Action"]
    }
    assert {f"dynamodb:{op}" for op in dynamodb} <= granted
    assert {f"kms:{op}" for op in kms} <= granted
