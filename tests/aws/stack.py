"""template.yaml as AWS receives it: translated by aws-sam-translator, offline, once per run.

The translator lives in .venv/sam (made by `make test`; it pins another pydantic than the
gateway), so it runs as a subprocess: infra/translate.py prints the CloudFormation.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv/sam/bin/python"

FUNCTIONS = ("ChatFunction", "AgentFunction", "AdminFunction", "HealthFunction")
STREAMING = ("ChatFunction", "AgentFunction")
BUFFERED = ("AdminFunction", "HealthFunction")
TABLES = ("CredentialsTable", "RuntimeTable", "UsageTable")

# The {provider, account_id} encryption context, and nothing else, on every KMS use.
CREDENTIAL_CONTEXT = {
    "Null": {
        "kms:EncryptionContext:provider": "false",
        "kms:EncryptionContext:account_id": "false",
    },
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["provider", "account_id"]},
}


@functools.cache
def cloudformation() -> dict[str, Any]:
    if not SAM_PYTHON.exists():
        raise RuntimeError(f"{SAM_PYTHON} is missing: `make test` (or `make .venv/sam/.installed`)")
    done = subprocess.run(
        [str(SAM_PYTHON), str(ROOT / "infra/translate.py"), str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"aws-sam-translator refused template.yaml:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@functools.cache
def source() -> dict[str, Any]:
    """template.yaml itself, intrinsic functions kept (cfn-lint's reader knows the tags)."""
    from cfnlint.decode import decode

    template, problems = decode(str(ROOT / "template.yaml"))
    assert template is not None, problems
    return dict(template)


def resource(name: str) -> dict[str, Any]:
    found: dict[str, Any] = cloudformation()["Resources"][name]
    return found


def properties(name: str) -> dict[str, Any]:
    found: dict[str, Any] = resource(name)["Properties"]
    return found


def code_dir(function: str) -> Path:
    """The folder `sam build` packages for ``function`` (infra/translate.py keeps its path)."""
    return ROOT / properties(function)["Code"]["S3Key"]


def routes() -> dict[tuple[str, str], dict[str, Any]]:
    """(path, METHOD) → the API Gateway integration of that route."""
    paths = properties("Api")["Body"]["paths"]
    return {
        (path, method.upper()): operation["x-amazon-apigateway-integration"]
        for path, item in paths.items()
        for method, operation in item.items()
    }


def integrated_function(integration: Mapping[str, Any]) -> str:
    uri = integration["uri"]["Fn::Sub"]
    match = re.search(r"\$\{(\w+)\.Arn\}", uri)
    assert match, uri
    return match.group(1)


def role_statements(function: str) -> list[dict[str, Any]]:
    role = properties(function)["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in properties(role).get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def parameter_defaults() -> dict[str, str]:
    return {
        name: str(spec["Default"])
        for name, spec in source()["Parameters"].items()
        if "Default" in spec
    }


class Resolver:
    """Resolves the intrinsic functions of environment values to what AWS would pass."""

    def __init__(self, refs: Mapping[str, str], attributes: Mapping[str, str]) -> None:
        self.refs = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", **refs}
        self.attributes = dict(attributes)

    def __call__(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return self.refs[value["Ref"]]
        if "Fn::GetAtt" in value:
            return self.attributes[".".join(value["Fn::GetAtt"])]
        if "Fn::Sub" in value:
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: self._sub(m.group(1)), value["Fn::Sub"])
        raise ValueError(f"cannot resolve {value!r}")

    def _sub(self, name: str) -> str:
        return self.attributes[name] if "." in name else self.refs[name]


ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789"


def deployed_names(stage: str = "dev") -> dict[str, str]:
    """Logical id → physical name of each table, and the parameters, for ``stage``."""
    refs = {**parameter_defaults(), "Stage": stage, "AdminKey": ADMIN_KEY}
    resolve = Resolver(refs, {})
    return {**refs, **{t: resolve(properties(t)["TableName"]) for t in TABLES}}


def function_name(function: str, stage: str = "dev") -> str:
    return Resolver(deployed_names(stage), {})(properties(function)["FunctionName"])


def function_env(function: str, key_arn: str, stage: str = "dev") -> dict[str, str]:
    """The environment Lambda gives ``function`` once deployed (its KMS key is ``key_arn``)."""
    resolve = Resolver(deployed_names(stage), {"CredentialsKey.Arn": key_arn})
    variables = properties(function)["Environment"]["Variables"]
    return {name: resolve(value) for name, value in variables.items()}
