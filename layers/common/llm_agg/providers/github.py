"""GitHub Models: OpenAI's format at ``models.github.ai/inference``, free within limits set by
the Copilot plan (docs.github.com "Prototyping with AI models", checked 2026-12-06: on Copilot
Free, "low" models 15 requests a minute and 150 a day, "high" ones 10 and 50, and at most
8,000 tokens in and 4,000 out per request).

A request over the per-request limit is refused with 413 ``tokens_limit_reached``: that is
this provider's limit, not the request's fault, so it moves on to the next candidate
(``FailureKind.TOO_LARGE``); a prompt estimated larger is not sent to it at all
(``max_request_tokens``), and the catalog gives its models that limit as their context.
Models are listed by its catalog (``GET /catalog/models``, a bare array), beside the
inference path.
"""

from __future__ import annotations

from typing import Any

from llm_agg.providers.failures import FailureKind, UpstreamFailure, classify
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.model_lists import load_models
from llm_agg.providers.spec import ProviderSpec

# The free tier's per-request limits: a model's own window is larger, but not for free.
FREE_INPUT_TOKENS = 8000
FREE_OUTPUT_TOKENS = 4000


def errors(status: int, body: bytes) -> UpstreamFailure:
    failure = classify(status, body)
    if failure.code == "tokens_limit_reached":
        return UpstreamFailure(
            FailureKind.TOO_LARGE, status, failure.message, failure.type, failure.code
        )
    return failure


def _limit(value: Any, free: int) -> int | None:
    return min(value, free) if isinstance(value, int) and value > 0 else None


def parse_models(body: bytes) -> list[ListedModel]:
    """``[{id: "openai/gpt-4.1", capabilities: ["streaming", "tool-calling"], limits:
    {max_input_tokens, max_output_tokens}, supported_input_modalities, ...}]``."""
    models = []
    for item in load_models(body, None):
        limits = item.get("limits") or {}
        inputs = item.get("supported_input_modalities") or []
        outputs = item.get("supported_output_modalities") or ["text"]
        caps = {"tools"} if "tool-calling" in (item.get("capabilities") or ()) else set()
        if "image" in inputs:
            caps.add("vision")
        models.append(
            ListedModel(
                id=item["id"],
                context=_limit(limits.get("max_input_tokens"), FREE_INPUT_TOKENS),
                max_output=_limit(limits.get("max_output_tokens"), FREE_OUTPUT_TOKENS),
                free=True,
                chat="text" in outputs,
                capabilities=frozenset(caps),
            )
        )
    return models


SPEC = ProviderSpec(
    name="github",
    base_url="https://models.github.ai/inference",
    key_vars=("GITHUB_TOKEN", "GITHUB_API_KEY"),
    errors=errors,
    parse_models=parse_models,
    models_path="../catalog/models",
    # Its x-ratelimit-* headers count something else than the free tier (20,000 requests,
    # 2,000,000 tokens seen by users): learning them would replace the real limits. Its 429s
    # carry retry-after (and x-ratelimit-type: UserByModelByDay), which is enough.
    rate_limit_headers="none",
    max_request_tokens=FREE_INPUT_TOKENS,
)
