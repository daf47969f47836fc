"""Google AI Studio's Gemini and Gemma models, through Google's OpenAI-compatible endpoint.

Its quirks (ai.google.dev/gemini-api/docs/openai and users' reports, checked 2026-12-06):
- it answers a field it does not know with 400 "Invalid JSON payload received. Unknown name":
  every OpenAI field has a fate here (``FATES``): forwarded, dropped (logged), or refused so
  another provider serves the request; tool and response schemas lose ``$schema`` and ``$id``,
  and ``const`` becomes the one-value ``enum`` it means (``rewrite``);
- no rate-limit headers: a 429's body names the spent quota (``QuotaFailure.violations[].
  quotaId``) and the wait (``RetryInfo.retryDelay``); a per-day quota comes back at midnight
  Pacific time, whatever its ``retryDelay`` says (``errors``);
- its errors may come as a JSON array of one error object;
- quota counts per Google Cloud project and model, not per key;
- its model list names models ``models/<id>``; chat takes the bare id;
- an answer that calls tools may end with ``finish_reason: "stop"``: the client is told
  ``tool_calls``, as OpenAI says.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson

from llm_agg.providers.failures import FailureKind, UpstreamFailure, classify
from llm_agg.providers.fields import (
    ANSWER_SHAPING,
    UNSHOWN,
    UNSHOWN_TUNING,
    native_refusals,
)
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.model_lists import openai_models
from llm_agg.providers.parking import Parking
from llm_agg.providers.rate_headers import parse_reset
from llm_agg.providers.spec import Fate, ProviderSpec

log = logging.getLogger("llm_agg.providers")

PACIFIC = "America/Los_Angeles"

FATES: Mapping[str, Fate] = {
    **dict.fromkeys(
        (
            "model",
            "messages",
            "stream",
            "stream_options",
            "tools",
            "tool_choice",
            "n",
            "stop",
            "max_tokens",
            "max_completion_tokens",
            "temperature",
            "top_p",
            "response_format",
            "reasoning_effort",
            "seed",
            "presence_penalty",
            "frequency_penalty",
        ),
        "forward",
    ),
    # Unknown to it (a 400); it always may call tools in parallel.
    **dict.fromkeys((*UNSHOWN, *UNSHOWN_TUNING, "parallel_tool_calls", "prediction"), "drop"),
    **dict.fromkeys(ANSWER_SHAPING, "refuse"),
}

_REFUSED = {name for name, fate in FATES.items() if fate == "refuse"}

# Schema keywords it refuses. ``const`` is said again as a one-value ``enum``.
_DROPPED_KEYWORDS = frozenset({"$schema", "$id"})
# Keywords whose value maps names to schemas: those names are not keywords.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})


def clean_schema(schema: Any) -> Any:
    """A JSON schema as Gemini takes it (pure; the input is not changed)."""
    if isinstance(schema, list):
        return [clean_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "const":
            out.setdefault("enum", [value])
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: clean_schema(sub) for name, sub in value.items()}
        else:
            out[key] = clean_schema(value)
    return out


def rewrite(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its tool and response schemas cleaned (fields were dropped before)."""
    tools = body.get("tools")
    if isinstance(tools, list):
        body["tools"] = [_clean_tool(tool) for tool in tools]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        inner = fmt["json_schema"]
        if "schema" in inner:
            body["response_format"] = {
                **fmt,
                "json_schema": {**inner, "schema": clean_schema(inner["schema"])},
            }
    return body


def _clean_tool(tool: Any) -> Any:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or "parameters" not in function:
        return tool
    return {**tool, "function": {**function, "parameters": clean_schema(function["parameters"])}}


def _unwrap(body: bytes) -> tuple[bytes, Any]:
    """The error object, out of the one-element array the compatibility layer may send."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body, None
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]
        body = orjson.dumps(data)
    return body, data


def _details(data: Any) -> list[dict[str, Any]]:
    error = data.get("error") if isinstance(data, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def parking(data: Any) -> Parking | None:
    """Which quota a 429 body says is spent, and for how long. Pure.

    Of several violations the longest wins: a spent day outlasts a spent minute.
    """
    details = _details(data)
    delays = [d.get("retryDelay") for d in details if str(d.get("@type", "")).endswith("RetryInfo")]
    wait = next((parse_reset(d, 0.0) for d in delays if isinstance(d, str)), None)
    found: list[Parking] = []
    for detail in details:
        if not str(detail.get("@type", "")).endswith("QuotaFailure"):
            continue
        for violation in detail.get("violations") or ():
            quota = violation.get("quotaId") if isinstance(violation, dict) else None
            if not isinstance(quota, str):
                continue
            daily = "PerDay" in quota
            found.append(Parking(quota, "PerModel" not in quota, wait, PACIFIC if daily else None))
    return max(found, key=lambda p: p.until(0.0), default=None)


def errors(status: int, body: bytes) -> UpstreamFailure:
    body, data = _unwrap(body)
    failure = classify(status, body)
    if failure.kind is FailureKind.RATE_LIMITED and (park := parking(data)) is not None:
        return UpstreamFailure(
            failure.kind,
            status,
            failure.message,
            failure.type,
            failure.code,
            failure.param,
            park,
        )
    return failure


_NOT_CHAT = re.compile(r"embedding|imagen|veo|aqa|tts|lyria", re.IGNORECASE)


def parse_models(body: bytes) -> list[ListedModel]:
    """OpenAI's shape, each id ``models/<id>``: the id chat takes is the bare one."""
    return [
        ListedModel(
            id=model.id.removeprefix("models/"),
            created=model.created,
            chat=False if _NOT_CHAT.search(model.id) else None,
        )
        for model in openai_models(body)
    ]


SPEC = ProviderSpec(
    name="gemini",
    base_url="https://generativelanguage.googleapis.com/v1beta/openai",
    key_vars=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    fates=FATES,
    drop=frozenset(name for name, fate in FATES.items() if fate == "drop"),
    refusals=tuple(r for r in native_refusals("gemini") if r.field in _REFUSED),
    rewrite=rewrite,
    errors=errors,
    parse_models=parse_models,
    rate_limit_headers="none",
    quota_scope="project",
    tool_calls_end_as_stop=True,
)
