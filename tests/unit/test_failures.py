from __future__ import annotations

from collections.abc import Callable

import pytest

from llm_agg.providers.failures import FailureKind, classify

Read = Callable[[str], bytes]


@pytest.mark.parametrize(
    ("fixture", "status", "kind"),
    [
        ("openai/error_400_invalid_request.json", 400, FailureKind.CLIENT),
        ("openai/error_401_invalid_api_key.json", 401, FailureKind.ACCOUNT),
        ("openai/error_404_model_not_found.json", 404, FailureKind.NOT_FOUND),
        ("openai/error_429_rate_limit.json", 429, FailureKind.RATE_LIMITED),
        ("openai/error_500_server_error.json", 500, FailureKind.SERVER),
        ("groq/error_413_request_too_large_tpm.json", 413, FailureKind.RATE_LIMITED),
        ("groq/error_498_flex_capacity.json", 498, FailureKind.SERVER),
        ("groq/error_400_tool_use_failed.json", 400, FailureKind.CLIENT),
        ("cerebras/error_429_requests_quota.json", 429, FailureKind.RATE_LIMITED),
        ("together/error_503_overloaded.json", 503, FailureKind.SERVER),
        ("openrouter/error_402.json", 402, FailureKind.ACCOUNT),
        ("openrouter/error_408.json", 408, FailureKind.TIMEOUT),
        ("openrouter/error_529.json", 529, FailureKind.SERVER),
        ("anthropic/error_529_overloaded.json", 529, FailureKind.SERVER),
        ("cohere/error_429_trial_limit.json", 429, FailureKind.RATE_LIMITED),
    ],
)
def test_failures_are_classified_by_status(
    fixture: str, status: int, kind: FailureKind, fixture_bytes: Read
) -> None:
    failure = classify(status, fixture_bytes(fixture))
    assert failure.kind is kind
    assert failure.message and not failure.message.startswith("HTTP")


def test_every_envelope_yields_its_message(fixture_bytes: Read) -> None:
    flat = classify(429, fixture_bytes("cerebras/error_429_requests_quota.json"))
    assert flat.message.startswith("Requests per minute limit exceeded")
    assert flat.code == "request_quota_exceeded"
    nested_int_code = classify(429, fixture_bytes("openrouter/error_429.json"))
    assert nested_int_code.code == "429"


def test_a_body_that_is_not_json_still_classifies() -> None:
    failure = classify(502, b"<html>Bad gateway</html>")
    assert failure.kind is FailureKind.SERVER and failure.message == "HTTP 502"
