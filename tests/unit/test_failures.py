from __future__ import annotations

from collections.abc import Callable

import pytest

from llm_agg.limits.spent import with_parking
from llm_agg.providers.failures import FailureKind, classify, moderated, transport
from tests.support.fixtures import headers

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
        # The model failed to write a valid tool call: another model may manage it.
        ("groq/error_400_tool_use_failed.json", 400, FailureKind.MODEL),
        ("groq/error_401_invalid_api_key.json", 401, FailureKind.ACCOUNT),
        ("groq/error_404_model_not_found.json", 404, FailureKind.NOT_FOUND),
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


NOW = 1788800000.0  # 2026-09-07 16:53 UTC: OpenRouter's fixture resets at the next midnight


def test_openrouter_free_models_per_day_parks_the_whole_account_until_its_reset(
    fixture_bytes: Read,
) -> None:
    # Retry-After says 60 s, but the exhausted window resets at midnight (epoch ms).
    announced = headers("openrouter/error_429_response_headers.txt")
    body = fixture_bytes("openrouter/error_429_free_model_daily.json")
    failure = with_parking(moderated(429, body), announced, NOW, whole_account=True)
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.parking is not None
    assert failure.parking.quota == "free-models-per-day"
    assert failure.parking.whole_account
    assert failure.parking.until(NOW) == 1788825600.0


def test_the_reset_repeated_in_the_body_counts_without_headers(fixture_bytes: Read) -> None:
    body = fixture_bytes("openrouter/error_429_free_model_daily.json")
    failure = with_parking(moderated(429, body), {}, NOW, whole_account=False)
    assert failure.parking is not None and not failure.parking.whole_account


def test_a_short_429_is_a_rate_limit_not_a_spent_quota(fixture_bytes: Read) -> None:
    body = fixture_bytes("openrouter/error_429.json")
    failure = with_parking(classify(429, body), {"retry-after": "20"}, NOW, whole_account=True)
    assert failure.kind is FailureKind.RATE_LIMITED and failure.parking is None


def test_openrouters_403_is_its_moderation_refusing_the_request(fixture_bytes: Read) -> None:
    body = fixture_bytes("openrouter/error_403_guardrail.json")
    assert moderated(403, body).kind is FailureKind.CLIENT
    assert classify(403, body).kind is FailureKind.ACCOUNT  # elsewhere: a refused key


def test_402_is_no_credits_and_401_a_refused_key(fixture_bytes: Read) -> None:
    credits = classify(402, fixture_bytes("openrouter/error_402.json"))
    refused = classify(401, fixture_bytes("groq/error_401_invalid_api_key.json"))
    assert credits.no_credits and not credits.key_refused
    assert refused.key_refused and not refused.no_credits


def test_a_connection_never_made_is_marked_as_not_reaching_the_provider() -> None:
    assert (
        transport(FailureKind.CONNECTION, ConnectionRefusedError(), reached=False).reached is False
    )
    assert transport(FailureKind.TIMEOUT).reached
