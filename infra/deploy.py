"""``make deploy STAGE=dev|prod``: ``sam build`` then ``sam deploy`` with infra/samconfig.toml.

The stage's ``parameter_overrides`` come from samconfig.toml. ``LLM_AGG_ADMIN_KEY``, when set,
is added as ``AdminKey`` (given on the command line, SAM replaces the file's overrides rather
than merging them, so they are passed again). Without it an existing stack keeps its key: sam
deploy sends UsePreviousValue for parameters it is not given. The first deploy needs it.

Afterwards the stack's ApiUrl is printed, and written to ``$GITHUB_OUTPUT`` as ``api_url`` when
that is set (the deploy workflow's smoke test reads it). Standard library only: it runs before
anything is installed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "infra" / "samconfig.toml"


def deploy_commands(stage: str, environ: dict[str, str]) -> list[list[str]]:
    config = tomllib.loads(CONFIG.read_text())
    if stage not in config:
        raise SystemExit(f"unknown stage {stage!r}: {CONFIG} has {', '.join(sorted(config))}")
    # sam resolves a relative --config-file against the template's folder: give it absolutely.
    common = ["--config-file", str(CONFIG), "--config-env", stage]
    deploy = ["sam", "deploy", *common]
    admin_key = environ.get("LLM_AGG_ADMIN_KEY", "").strip()
    if admin_key:
        overrides = config[stage].get("deploy", {}).get("parameters", {})
        given = overrides.get("parameter_overrides", "")
        listed = given if isinstance(given, list) else shlex.split(given)
        deploy += ["--parameter-overrides", *listed, f"AdminKey={admin_key}"]
    stack = config[stage]["global"]["parameters"]["stack_name"]
    outputs = ["sam", "list", "stack-outputs", "--stack-name", stack, "--output", "json"]
    return [["sam", "build", *common], deploy, outputs]


def run(command: list[str], capture: bool = False) -> str:
    # Never print the command itself: the deploy's holds the admin key.
    done = subprocess.run(command, cwd=ROOT, capture_output=capture, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed (exit {done.returncode})")
    return done.stdout or ""


def main(argv: list[str]) -> int:
    stage = argv[1] if len(argv) > 1 else "dev"
    build, deploy, outputs = deploy_commands(stage, dict(os.environ))
    run(build)
    run(deploy)
    listed = run(outputs, capture=True)
    url = next(o["OutputValue"] for o in json.loads(listed) if o["OutputKey"] == "ApiUrl")
    print(f"ApiUrl: {url}")
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as out:
            out.write(f"api_url={url}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
