"""Translate template.yaml to plain CloudFormation with aws-sam-translator, offline.

Runs in the translator's own virtualenv (.venv/sam, see infra/sam-translator.txt) and prints
the CloudFormation JSON that `sam deploy` would submit, so tests can assert on what AWS gets:

    .venv/sam/bin/python infra/translate.py template.yaml [Stage=prod ...]

No AWS call is made: the region and account are fixed stand-ins, and a template naming AWS
managed policies by name (which needs IAM to resolve) is refused instead of looked up.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "llm-agg",
    "AWS::URLSuffix": "amazonaws.com",
}


# What `sam package` uploads, by resource type: the property holding a local folder.
LOCAL_CODE = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def package(template: dict[str, Any]) -> None:
    """Do what `sam package` does before the transform: swap each local code folder for an S3
    URI. The key keeps the folder's path (relative to the template), so a test can find the
    files behind each function; whether they exist is the tests' business, not the transform's."""
    for resource in template.get("Resources", {}).values():
        prop = LOCAL_CODE.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        local = properties.get(prop) if prop else None
        if not isinstance(local, str) or local.startswith("s3://"):
            continue
        properties[prop] = f"s3://llm-agg-artifacts/{local.rstrip('/')}"


class OfflinePolicies:
    """The managed policy loader: resolving a policy name would ask IAM, so it is an error."""

    def load(self) -> dict[str, str]:
        raise SystemExit("template.yaml names a managed policy: use its ARN or a statement")


def translate(template_path: Path, overrides: dict[str, str]) -> dict[str, Any]:
    template = yaml_parse(template_path.read_text())
    package(template)
    parameters = {
        name: spec["Default"]
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    # The translator asks a boto3 session for the region even when AWS::Region is given; a
    # session only reads the environment and ~/.aws for that, never the network.
    os.environ["AWS_DEFAULT_REGION"] = PSEUDO["AWS::Region"]
    ArnGenerator.BOTO_SESSION_REGION_NAME = PSEUDO["AWS::Region"]
    result: dict[str, Any] = transform(
        template, {**PSEUDO, **parameters, **overrides}, OfflinePolicies()
    )
    return result


def main(argv: list[str]) -> int:
    # The translator warns about feature toggles it has no config for: noise here.
    logging.basicConfig(level=logging.ERROR)
    path = Path(argv[1]) if len(argv) > 1 else Path("template.yaml")
    overrides = dict(arg.split("=", 1) for arg in argv[2:])
    try:
        output = translate(path, overrides)
    except InvalidDocumentException as exc:
        for cause in exc.causes:
            print(f"{path}: {cause.message}", file=sys.stderr)
        return 1
    json.dump(output, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
