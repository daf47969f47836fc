"""Anthropic's and Cohere's error bodies and rate-limit headers, as the router reads them."""

from __future__ import annotations

from datetime import datetime

import pytest

from llm_agg.limits.headers import retry_after
from llm_agg.providers.failures import FailureKind, classify
from tests.support.fixtures import headers, load, raw

ANTHROPIC = [
    (400, "error_400_invalid_request.json", FailureKind.CLIENT, "invalid_request_error", None),
    (401, "error_401_authentication.json", FailureKind.ACCOUNT, "authentication_error", None),
    (403, "error_403_permission.json", FailureKind.ACCOUNT, "permission_error", None),
    (
        404,
        "error_404_not_found.json",
        FailureKind.NOT_FOUND,
        "invalid_request_error",
        "not_found_error",
    ),
    (
        413,
        "error_413_request_too_large.json",
        FailureKind.CLIENT,
        "invalid_request_error",
        "request_too_large",
    ),
    (429, "error_429_rate_limit.json", FailureKind.RATE_LIMITED, "rate_limit_error", None),
    (500, "error_500_api_error.json", FailureKind.SERVER, "server_error", "api_error"),
    (529, "error_529_overloaded.json", FailureKind.SERVER, "server_error", "overloaded_error"),
]


@pytest.mark.parametrize(("status", "name", "kind", "type_", "code"), ANTHROPIC)
def test_anthropic_errors(status: int, name: str, kind: FailureKind, type_: str, code: str | None):
    failure = classify(status, raw("anthropic/" + name))
    assert failure.kind is kind
    assert failure.message == load("anthropic/" + name)["error"]["message"]
    assert (failure.type, failure.code) == (type_, code)


def test_a_413_from_cloudflare_that_is_not_json_is_still_the_clients():
    failure = classify(413, b"<html><body>413 Request Entity Too Large</body></html>")
    assert failure.kind is FailureKind.CLIENT
    assert failure.message == "HTTP 413"


COHERE = [
    (400, "error_400_bad_request.json", FailureKind.CLIENT),
    (401, "error_401_unauthorized.json", FailureKind.ACCOUNT),
    (402, "error_402_payment_required.json", FailureKind.ACCOUNT),
    (404, "error_404_not_found.json", FailureKind.NOT_FOUND),
    (429, "error_429_trial_limit.json", FailureKind.RATE_LIMITED),
    (500, "error_500_internal.json", FailureKind.SERVER),
    (503, "error_503_unavailable.json", FailureKind.SERVER),
]


@pytest.mark.parametrize(("status", "name", "kind"), COHERE)
def test_cohere_errors(status: int, name: str, kind: FailureKind):
    failure = classify(status, raw("cohere/" + name))
    assert failure.kind is kind
    assert failure.message == load("cohere/" + name)["message"]
    assert failure.code is None


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_anthropic_429_waits_for_retry_after():
    recorded = headers("anthropic/error_429_response_headers.txt")
    assert retry_after(recorded, at("2026-02-25T20:02:37Z")) == 23


def test_anthropic_429_without_retry_after_waits_for_the_latest_exhausted_reset():
    recorded = headers("anthropic/error_429_response_headers.txt")
    del recorded["retry-after"]
    # requests (20:03:00), tokens and input tokens (20:02:59) are at 0; output tokens are not.
    assert retry_after(recorded, at("2026-02-25T20:02:37Z")) == 23


def test_anthropic_success_headers_announce_the_soonest_reset():
    recorded = headers("anthropic/response_headers_ratelimit.txt")
    # Nothing is exhausted: the soonest announced reset is the requests one, 20:02:32.
    assert retry_after(recorded, at("2026-02-25T20:02:30Z")) == 2
    assert retry_after(recorded, at("2026-02-25T20:05:00Z")) == 0
