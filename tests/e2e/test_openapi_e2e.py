"""The served OpenAPI document against the server it describes: schemathesis sends generated
requests, valid and invalid, to a real `llm-agg serve` on loopback whose providers are the fake
upstream, and checks every answer: never a 5xx, a status the document lists for that route, a
documented media type, and a body that matches the schema of its status.

Bounded (a fixed number of derandomized examples per route), so `make test` stays short and
repeatable; a failure prints the request that caused it (`curl` form) to replay by hand.
`OPENAPI_EXAMPLES=500 .venv/bin/pytest tests/e2e/test_openapi_e2e.py` searches harder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from llm_agg.openapi import openapi_document
from tests.e2e.harness import FakeUpstream, Process, start_gateway

ADMIN_KEY = "openapi-admin-key-0123456789abcdef0123456789"
# Per route and phase; OPENAPI_EXAMPLES=500 digs deeper by hand (a few minutes).
EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "30"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def described(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    project = e2e_tmp / "openapi-project"
    project.mkdir(exist_ok=True)
    (project / "main.py").write_text("print('hello')\n")
    env = {
        **fake.provider_env("openapi_test_key"),
        "LLM_AGG_ADMIN_KEY": ADMIN_KEY,
        # Generated agent runs stay small, and their file tools inside a throwaway folder.
        "LLM_AGG_AGENT_ROOTS": str(project),
        "LLM_AGG_AGENT_MAX_STEPS": "3",
    }
    process = start_gateway(e2e_tmp, env)
    yield process
    process.stop()


# The document as this checkout makes it; the test below checks the server serves the same.
# (Loaded in-process, not from the live server: schemathesis' lazy fixture loading relies on a
# pytest internal that pytest 9 removed.)
schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.mark.e2e
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_document(case: Any, described: Process) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"} if case.path.startswith("/admin") else {}
    response = case.call(base_url=described.url, headers=headers, timeout=30, allow_redirects=False)
    case.validate_response(response, checks=CHECKS)


def test_the_document_is_openapi_31_and_describes_every_public_route(described: Process) -> None:
    answer = httpx.get(f"{described.url}/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document == openapi_document()
    assert document["openapi"] == "3.1.0"
    routes = {(m.upper(), p) for p, methods in document["paths"].items() for m in methods}
    assert {
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/responses"),
        ("GET", "/v1/responses/{response_id}"),
        ("DELETE", "/v1/responses/{response_id}"),
        ("GET", "/v1/responses/{response_id}/input_items"),
        ("POST", "/v1/agents/code/invoke"),
        ("POST", "/v1/agents/resume"),
        ("POST", "/admin/credentials"),
        ("GET", "/admin/credentials"),
        ("PATCH", "/admin/credentials/{provider}/{account_id}"),
        ("DELETE", "/admin/credentials/{provider}/{account_id}"),
        ("POST", "/admin/credentials/{provider}/{account_id}/check"),
        ("POST", "/admin/keys"),
        ("GET", "/admin/keys"),
        ("DELETE", "/admin/keys/{key_id}"),
        ("GET", "/admin/capacity"),
        ("GET", "/admin/providers"),
        ("GET", "/admin/routing"),
        ("GET", "/admin/usage-stats"),
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/"),
        ("GET", "/ui"),
        ("GET", "/ui/"),
        ("GET", "/ui/static/{name}"),
    } <= routes
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert operation["responses"], (method, path)
            errors = [s for s in operation["responses"] if s[0] in "45"]
            for status in errors:  # every error has an error's shape (OpenAI's unless said)
                body = operation["responses"][status]["content"]["application/json"]["schema"]
                assert body["$ref"].endswith("Error"), (method, path, status)
