"""The deploy pipeline offline: samconfig, `make deploy`'s script with a stand-in `sam`, the
smoke test against a real local gateway, and the workflow's shape (its schema is `make lint`'s)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.aws import stack
from tests.e2e.harness import FakeUpstream, Process, start_gateway

ROOT = stack.ROOT
ADMIN_KEY = "a-new-admin-key-0123456789abcdef0123456789"  # the deploy tests' and the gateway's
_spec = importlib.util.spec_from_file_location("infra_deploy", ROOT / "infra/deploy.py")
assert _spec is not None and _spec.loader is not None
deploy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deploy)


def test_samconfig_has_dev_and_prod_stacks_with_their_stage() -> None:
    config = tomllib.loads((ROOT / "infra/samconfig.toml").read_text())
    parameters = stack.source()["Parameters"]
    for stage in ("dev", "prod"):
        assert config[stage]["global"]["parameters"]["stack_name"] == f"llm-agg-{stage}"
        settings = config[stage]["deploy"]["parameters"]
        assert settings["capabilities"] == "CAPABILITY_IAM"
        assert settings["confirm_changeset"] is False  # CI has nobody to confirm
        overrides = dict(pair.split("=", 1) for pair in settings["parameter_overrides"].split())
        assert overrides["Stage"] == stage
        assert set(overrides) <= set(parameters)
        assert "AdminKey" not in overrides  # secrets stay out of the repository


def test_deploy_builds_then_deploys_the_stage_with_an_absolute_config() -> None:
    build, deploy_command, outputs = deploy.deploy_commands("prod", {})
    config = str(ROOT / "infra/samconfig.toml")
    assert build == ["sam", "build", "--config-file", config, "--config-env", "prod"]
    assert deploy_command == ["sam", "deploy", "--config-file", config, "--config-env", "prod"]
    assert outputs[:3] == ["sam", "list", "stack-outputs"]
    assert "llm-agg-prod" in outputs


def test_deploy_adds_the_admin_key_to_the_stage_overrides() -> None:
    _, deploy_command, _ = deploy.deploy_commands("dev", {"LLM_AGG_ADMIN_KEY": ADMIN_KEY})
    overrides = deploy_command[deploy_command.index("--parameter-overrides") + 1 :]
    assert overrides == ["Stage=dev", "LogLevel=DEBUG", f"AdminKey={ADMIN_KEY}"]


def test_deploy_refuses_an_unknown_stage() -> None:
    with pytest.raises(SystemExit, match="unknown stage 'staging'"):
        deploy.deploy_commands("staging", {})


def _fake_sam(tmp_path: Path, fail: str = "") -> dict[str, str]:
    """A `sam` on PATH that records its arguments, and fails the subcommand ``fail``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    outputs = json.dumps([{"OutputKey": "ApiUrl", "OutputValue": "https://abc.example/dev"}])
    script = bin_dir / "sam"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{tmp_path}/calls"\n'
        f'[ "$1" = "{fail}" ] && exit 3\n'
        f"[ \"$1\" = list ] && echo '{outputs}'\n"
        "exit 0\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }


def test_make_deploy_runs_sam_and_hands_the_api_url_to_the_workflow(tmp_path: Path) -> None:
    env = _fake_sam(tmp_path)
    done = subprocess.run(
        ["make", "--no-print-directory", "deploy", "STAGE=dev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [call.split()[0] for call in calls] == ["build", "deploy", "list"]
    assert "ApiUrl: https://abc.example/dev" in done.stdout
    assert (tmp_path / "github_output").read_text() == "api_url=https://abc.example/dev\n"


def test_a_failed_deploy_does_not_print_the_admin_key(tmp_path: Path) -> None:
    env = _fake_sam(tmp_path, fail="deploy")
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra/deploy.py"), "dev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "sam deploy failed (exit 3)" in done.stderr
    assert ADMIN_KEY not in done.stdout + done.stderr


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[Process]:
    """A gateway that, like a deployment, needs a gateway key; the key made as the README says."""
    env = {
        "GROQ_API_KEY": "gsk_smoke_test_key_0001",
        "GROQ_BASE_URL": upstream.base_url("groq"),
        "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
    }
    process = start_gateway(tmp_path_factory.mktemp("gateway"), env, "--require-auth")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def gateway_key(gateway: Process) -> str:
    made = httpx.post(
        gateway.url + "/admin/keys",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        json={"name": "smoke"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


def _smoke(url: str, key: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "infra/smoke.py"), "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LLM_AGG_API_KEY": key},
    )


def test_smoke_test_passes_against_a_working_gateway(
    gateway: Process, gateway_key: str, upstream: FakeUpstream
) -> None:
    upstream.reset()
    done = _smoke(gateway.url, gateway_key)
    assert done.returncode == 0, done.stderr
    assert "health ok" in done.stdout
    assert "stream ok via groq" in done.stdout
    sent = upstream.received()[-1]
    assert sent["body"]["stream"] is True


def test_smoke_test_fails_when_the_provider_fails(
    gateway: Process, gateway_key: str, upstream: FakeUpstream
) -> None:
    upstream.reset()
    # Every provider answers 500: the gateway answers with an OpenAI-shaped 502.
    upstream.queue("groq", *[{"status": 500}] * 5)
    done = _smoke(gateway.url, gateway_key)
    assert done.returncode == 1
    assert "smoke test failed" in done.stderr


def test_smoke_test_fails_without_a_valid_gateway_key(gateway: Process) -> None:
    done = _smoke(gateway.url, "sk-llmagg-not-a-key")
    assert done.returncode == 1
    assert "401" in done.stderr


def test_smoke_test_fails_without_a_health_route(upstream: FakeUpstream) -> None:
    done = _smoke(upstream.url)
    assert done.returncode == 1
    assert "smoke test failed" in done.stderr


def _workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
    return loaded


def test_workflow_deploys_main_with_an_oidc_role_then_smoke_tests() -> None:
    workflow = _workflow()
    # PyYAML reads the bare key `on` as True.
    assert workflow[True]["push"]["branches"] == ["main"]
    deploy_job = workflow["jobs"]["deploy"]
    assert deploy_job["needs"] == "test"
    assert deploy_job["permissions"]["id-token"] == "write"
    steps = deploy_job["steps"]
    uses = [step.get("uses", "") for step in steps]
    credentials = steps[next(i for i, u in enumerate(uses) if "configure-aws-credentials" in u)]
    assert "role-to-assume" in credentials["with"]
    assert "aws-access-key-id" not in credentials["with"]  # no stored keys
    runs = [step.get("run", "") for step in steps]
    deploy_at = next(i for i, run in enumerate(runs) if run.startswith("make deploy"))
    smoke_at = next(i for i, run in enumerate(runs) if "infra/smoke.py" in run)
    assert deploy_at < smoke_at
    assert "steps.deploy.outputs.api_url" in runs[smoke_at]
    assert workflow["jobs"]["test"]["steps"][-1]["run"] == "make test"


def test_every_action_is_pinned_by_a_full_commit_sha_with_its_tag_beside_it() -> None:
    # A tag can be moved to other code by whoever controls the action; a commit SHA cannot.
    lines = (ROOT / ".github/workflows/deploy.yml").read_text().splitlines()
    uses = [line.split("uses:", 1)[1].strip() for line in lines if "uses:" in line]
    assert len(uses) >= 4
    for use in uses:
        action, _, rest = use.partition("@")
        ref, _, comment = rest.partition("#")
        assert re.fullmatch(r"[0-9a-f]{40}", ref.strip()), f"{action} is not pinned by SHA"
        assert re.match(r"v\d", comment.strip()), f"{action}: say which tag the SHA is"
