"""Mistral (La Plateforme, free Experiment plan) and Codestral: OpenAI's format, but a body
with a field it does not know is refused with 422 "Extra inputs are not permitted"
(``stream_options``, ``max_completion_tokens``, a message's ``name``; users' reports, checked
2026-12-06). So every OpenAI field has a fate here, and the body sent holds only fields of
its own API (docs.mistral.ai/api, chat completion): usage comes on the last stream chunk
unasked, the seed is ``random_seed``, the output limit ``max_tokens``.

Limits count per organisation (workspace), whatever the key; its headers name the window
(``x-ratelimit-limit-req-minute``, ``-tokens-minute``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llm_agg.providers.failures import UpstreamFailure, classify
from llm_agg.providers.fields import (
    ANSWER_SHAPING,
    UNSHOWN,
    UNSHOWN_TUNING,
    native_refusals,
)
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.model_lists import load_models
from llm_agg.providers.spec import Fate, ProviderSpec

# What its API takes, as the client sent it.
_TAKEN = (
    "model",
    "messages",
    "stream",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "n",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "parallel_tool_calls",
    "prediction",
)
_RENAMED = {"max_completion_tokens": "max_tokens", "seed": "random_seed"}

FATES: Mapping[str, Fate] = {
    **dict.fromkeys(_TAKEN, "forward"),
    **dict.fromkeys(_RENAMED, "map"),
    "stream_options": "map",  # usage always comes; the chunk is sent if asked
    **dict.fromkeys((*UNSHOWN, *UNSHOWN_TUNING, "reasoning_effort"), "drop"),
    **dict.fromkeys(ANSWER_SHAPING, "refuse"),
}
_MESSAGE_FIELDS = frozenset({"role", "content", "tool_calls", "tool_call_id", "prefix"})
_TOOL_MESSAGE_FIELDS = _MESSAGE_FIELDS | {"name"}


def rewrite(body: dict[str, Any]) -> dict[str, Any]:
    """Only the fields its API knows, under its names. Pure."""
    out = {name: body[name] for name in _TAKEN if name in body}
    for ours, theirs in _RENAMED.items():
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    out["messages"] = [_message(m) for m in body.get("messages") or ()]
    return out


def _message(message: Any) -> Any:
    """A message as its API takes it: a ``name`` only on a tool result (the function's)."""
    if not isinstance(message, dict):
        return message
    kept = _TOOL_MESSAGE_FIELDS if message.get("role") == "tool" else _MESSAGE_FIELDS
    return {k: v for k, v in message.items() if k in kept}


def errors(status: int, body: bytes) -> UpstreamFailure:
    """Its validation errors carry pydantic's ``detail`` list as the message: said in words."""
    failure = classify(status, body)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return failure
    message = data.get("message") if isinstance(data, dict) else None
    details = message.get("detail") if isinstance(message, dict) else None
    if not isinstance(details, list):
        return failure
    words = "; ".join(
        f"{'.'.join(str(part) for part in d.get('loc') or ())}: {d.get('msg')}"
        for d in details
        if isinstance(d, dict)
    )
    return UpstreamFailure(failure.kind, status, words or failure.message, failure.type)


def parse_models(body: bytes) -> list[ListedModel]:
    """``{data: [{id, capabilities: {completion_chat, function_calling, vision},
    max_context_length, deprecation}]}``."""
    models = []
    for item in load_models(body, "data"):
        caps = item.get("capabilities") or {}
        found = {"tools"} if caps.get("function_calling") else set()
        if caps.get("vision"):
            found.add("vision")
        context = item.get("max_context_length")
        models.append(
            ListedModel(
                id=item["id"],
                created=item.get("created") or 0,
                context=context if isinstance(context, int) and context > 0 else None,
                chat=bool(caps.get("completion_chat", True)) and not item.get("deprecation"),
                capabilities=frozenset(found),
            )
        )
    return models


def _spec(name: str, base_url: str) -> ProviderSpec:
    return ProviderSpec(
        name=name,
        base_url=base_url,
        fates=FATES,
        drop=frozenset(n for n, fate in FATES.items() if fate == "drop"),
        refusals=tuple(r for r in native_refusals(name) if FATES.get(r.field) == "refuse"),
        rewrite=rewrite,
        errors=errors,
        parse_models=parse_models,
        quota_scope="account",
    )


MISTRAL = _spec("mistral", "https://api.mistral.ai/v1")
CODESTRAL = _spec("codestral", "https://codestral.mistral.ai/v1")
