"""The schemas of the answers, written out from what the views and apps return (request bodies
are published from the pydantic models that validate them: see ``spec.model_schemas``).

Answers are open objects (``additionalProperties`` allowed): a client may rely on the fields
listed and ``required``, and the gateway may add more without breaking it.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def obj(required: list[str], properties: dict[str, Schema]) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


def nullable(kind: str | list[str]) -> Schema:
    kinds = [kind] if isinstance(kind, str) else kind
    return {"type": [*kinds, "null"]}


def listing(item: Schema) -> Schema:
    return obj(
        ["object", "data"], {"object": {"const": "list"}, "data": {"type": "array", "items": item}}
    )


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
COUNTS: Schema = {"type": "object", "additionalProperties": INT}

ERROR: Schema = obj(
    ["error"],
    {
        "error": obj(
            ["message", "type", "param", "code"],
            {
                "message": STR,
                "type": {
                    "description": "OpenAI's error types: invalid_request_error, "
                    "authentication_error, permission_error, conflict_error, rate_limit_error, "
                    "server_error.",
                    **STR,
                },
                "param": nullable("string"),
                "code": nullable("string"),
            },
        )
    },
)

_TOOL_CALL: Schema = obj(
    ["id", "type", "function"],
    {
        "id": STR,
        "type": {"const": "function"},
        "function": obj(["name", "arguments"], {"name": STR, "arguments": STR}),
    },
)
_USAGE: Schema = obj(
    ["prompt_tokens", "completion_tokens", "total_tokens"],
    {"prompt_tokens": INT, "completion_tokens": INT, "total_tokens": INT},
)
CHAT_COMPLETION: Schema = obj(
    ["id", "object", "created", "model", "choices"],
    {
        "id": STR,
        "object": {"const": "chat.completion"},
        "created": INT,
        "model": STR,
        "choices": {
            "type": "array",
            "items": obj(
                ["index", "message", "finish_reason"],
                {
                    "index": INT,
                    "message": obj(
                        ["role"],
                        {
                            "role": {"const": "assistant"},
                            "content": nullable("string"),
                            "tool_calls": {"type": "array", "items": _TOOL_CALL},
                        },
                    ),
                    "finish_reason": nullable("string"),
                },
            ),
        },
        "usage": {"anyOf": [_USAGE, {"type": "null"}]},
    },
)
CHAT_STREAM: Schema = obj(
    ["data"],
    {
        "data": {
            "description": "A `chat.completion.chunk` as JSON, then `[DONE]`. A failure after "
            "the first byte ends the stream with an `Error` as JSON and no `[DONE]`.",
            **STR,
        },
        "event": STR,
    },
)
CHAT_STREAM["description"] = "One server-sent event of a streamed answer."

MODEL: Schema = obj(
    ["id", "object", "created", "owned_by"],
    {
        "id": {"description": "`auto`, or `provider/model`.", **STR},
        "object": {"const": "model"},
        "created": INT,
        "owned_by": STR,
        "status": {"description": "`ready`, or until when it is cooling down and why.", **STR},
        "context_window": nullable("integer"),
        "max_output_tokens": nullable("integer"),
        "capabilities": {"type": "array", "items": STR},
        "free": BOOL,
    },
)

HEALTH: Schema = obj(
    ["status", "ready", "version"],
    {
        "status": {"const": "ok"},
        "ready": {"description": "Some provider account can take a request now.", **BOOL},
        "version": STR,
        "store": STR,
        "providers": {
            "type": "object",
            "additionalProperties": obj(
                ["configured", "supported", "accounts", "cooling_down"],
                {
                    "configured": BOOL,
                    "supported": BOOL,
                    "accounts": INT,
                    "cooling_down": {"type": "array", "items": STR},
                },
            ),
        },
    },
)

CREDENTIAL: Schema = obj(
    ["object", "provider", "account_id", "source", "enabled", "key", "additional_headers"],
    {
        "object": {"const": "credential"},
        "provider": STR,
        "account_id": STR,
        "source": {"enum": ["env", "store"]},
        "enabled": BOOL,
        "key": {"description": "Masked (`gsk_…9f2a`); never the key.", **nullable("string")},
        "additional_headers": {
            "description": "Names only: values may be secret.",
            "type": "array",
            "items": STR,
        },
        "created_at": nullable("number"),
        "last_used_at": nullable("number"),
        "last_error": nullable("string"),
        "problem": nullable("string"),
    },
)
VERDICT: dict[str, Schema] = {
    "ok": BOOL,
    "status": nullable("integer"),
    "message": nullable("string"),
}
CREDENTIAL_ADDED: Schema = {
    "allOf": [
        ref("Credential"),
        obj(
            ["replaced", "verification"],
            {
                "replaced": BOOL,
                "verification": {"anyOf": [obj(["ok"], VERDICT), {"type": "null"}]},
            },
        ),
    ]
}
CREDENTIAL_CHECK: Schema = obj(
    ["object", "provider", "account_id", "ok"],
    {"object": {"const": "credential_check"}, "provider": STR, "account_id": STR, **VERDICT},
)


def deleted(kind: str, fields: list[str]) -> Schema:
    return obj(
        ["object", *fields, "deleted"],
        {"object": {"const": kind}, **dict.fromkeys(fields, STR), "deleted": {"const": True}},
    )


GATEWAY_KEY: Schema = obj(
    ["object", "id", "name", "prefix", "created_at", "expires_at", "expired"],
    {
        "object": {"const": "gateway_key"},
        "id": STR,
        "name": nullable("string"),
        "prefix": {"description": "The key's first characters, then `…`.", **STR},
        "created_at": NUM,
        "expires_at": nullable("number"),
        "expired": BOOL,
        "requests_per_minute": nullable("integer"),
        "tokens_per_day": nullable("integer"),
    },
)
GATEWAY_KEY_CREATED: Schema = {
    "allOf": [
        ref("GatewayKey"),
        obj(["key", "note"], {"key": {"description": "Shown this once only.", **STR}, "note": STR}),
    ]
}

_COOLDOWN: Schema = obj(["scope", "until", "reason"], {"scope": STR, "until": NUM, "reason": STR})
_QUOTA: Schema = obj(
    ["scope", "name", "limit", "used", "left", "resets_at"],
    {"scope": STR, "name": STR, "limit": INT, "used": INT, "left": INT, "resets_at": NUM},
)
PROVIDER_STATUS: Schema = obj(
    ["provider", "supported", "configured", "accounts"],
    {
        "provider": STR,
        "supported": BOOL,
        "configured": BOOL,
        "accounts": {
            "type": "array",
            "items": obj(
                [
                    "account_id",
                    "source",
                    "enabled",
                    "healthy",
                    "cooling_down_until",
                    "requests_today",
                ],
                {
                    "account_id": STR,
                    "source": {"enum": ["env", "store"]},
                    "enabled": BOOL,
                    "healthy": BOOL,
                    "cooling_down_until": nullable("number"),
                    "last_error": nullable("string"),
                    "last_used_at": nullable("number"),
                    "requests_today": INT,
                    "cooling_down": {"type": "array", "items": _COOLDOWN},
                    "quota": {"type": "array", "items": _QUOTA},
                },
            ),
        },
    },
)

_CANDIDATE: Schema = obj(
    ["provider", "model", "score", "configured"],
    {"provider": STR, "model": STR, "score": NUM, "configured": BOOL},
)
QUALITIES = ["fastest", "balanced", "best_quality"]
ROUTING: Schema = obj(
    ["object", "default_quality", "profiles", "qualities", "rules"],
    {
        "object": {"const": "routing"},
        "default_quality": {"enum": QUALITIES},
        "profiles": {"type": "object", "additionalProperties": {"type": "object"}},
        "qualities": {
            "description": "The order `auto` tries under each `model_quality`.",
            "type": "object",
            "additionalProperties": {"type": "array", "items": _CANDIDATE},
        },
        "rules": {
            "type": "array",
            "items": obj(
                ["name", "conditions", "provider_preferences", "fallback_chain"],
                {
                    "name": STR,
                    "conditions": {"type": "object"},
                    "provider_preferences": {"type": "array", "items": STR},
                    "fallback_chain": {"type": "array", "items": STR},
                },
            ),
        },
        "checked": {},
    },
)

_WINDOW: Schema = obj(
    ["name", "per_quota", "total", "left", "resets_at"],
    {"name": STR, "per_quota": INT, "total": INT, "left": INT, "resets_at": NUM},
)
CAPACITY: Schema = obj(
    ["object", "data"],
    {
        "object": {"const": "list"},
        "checked": {},
        "data": {
            "type": "array",
            "items": obj(
                ["provider", "quota_scope", "accounts", "quotas", "shared", "models"],
                {
                    "provider": STR,
                    "quota_scope": STR,
                    "accounts": INT,
                    "quotas": {"description": "Distinct quotas its accounts hold.", **INT},
                    "shared": {"type": "array", "items": _WINDOW},
                    "models": {
                        "type": "array",
                        "items": obj(
                            ["model", "free", "windows"],
                            {
                                "model": STR,
                                "free": BOOL,
                                "context": nullable("integer"),
                                "windows": {"type": "array", "items": _WINDOW},
                            },
                        ),
                    },
                },
            ),
        },
    },
)

_SUMS: dict[str, Schema] = {
    "requests": INT,
    "errors": INT,
    "prompt_tokens": INT,
    "completion_tokens": INT,
    "latency_p50_ms": nullable("number"),
    "latency_p95_ms": nullable("number"),
    "errors_by_kind": COUNTS,
    "failovers": INT,
}
USAGE_SUMS: Schema = obj(list(_SUMS), _SUMS)
_BY_KEY: Schema = {"type": "object", "additionalProperties": ref("UsageSums")}
USAGE_STATS: Schema = obj(
    ["object", "start", "end", "provider", "data", "total", "by", "series"],
    {
        "object": {"const": "usage_stats"},
        "start": {"format": "date", **STR},
        "end": {"format": "date", **STR},
        "provider": nullable("string"),
        "data": {
            "type": "array",
            "items": {
                "allOf": [
                    ref("UsageSums"),
                    obj(
                        ["day", "provider", "model", "account_id", "gateway_key"],
                        dict.fromkeys(
                            ["day", "provider", "model", "account_id", "gateway_key"], STR
                        ),
                    ),
                ]
            },
        },
        "total": ref("UsageSums"),
        "by": {
            "description": "Sums by day, provider, model, account and gateway key.",
            "type": "object",
            "additionalProperties": _BY_KEY,
        },
        "series": {
            "description": "The sums of each provider, model, account and key, by day.",
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": _BY_KEY},
        },
    },
)

# Anthropic's Messages API (/v1/messages): its own answer, events and error shape.
ANTHROPIC_ERROR: Schema = obj(
    ["type", "error"],
    {"type": {"const": "error"}, "error": obj(["type", "message"], {"type": STR, "message": STR})},
)
ANTHROPIC_MESSAGE: Schema = obj(
    ["id", "type", "role", "model", "content", "stop_reason", "usage"],
    {
        "id": STR,
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "model": STR,
        "content": {
            "description": "Blocks: `text`, `tool_use`, `thinking` (when asked for).",
            "type": "array",
            "items": obj(["type"], {"type": STR}),
        },
        "stop_reason": nullable("string"),
        "stop_sequence": nullable("string"),
        "usage": obj(
            ["input_tokens", "output_tokens"], {"input_tokens": INT, "output_tokens": INT}
        ),
    },
)
ANTHROPIC_STREAM: Schema = obj(
    ["event", "data"],
    {
        "event": {
            "description": "message_start, content_block_start, content_block_delta, "
            "content_block_stop, message_delta, message_stop, ping; or `error`, which ends a "
            "stream that failed after its first byte.",
            **STR,
        },
        "data": {"description": "The event's JSON object.", **STR},
    },
)
CREATE_MESSAGE: Schema = {
    "description": "A Messages API body; `max_tokens` is required to create a message.",
    "allOf": [ref("MessagesRequest"), {"required": ["max_tokens"]}],
}
TOKEN_COUNT: Schema = obj(["input_tokens"], {"input_tokens": INT})

# OpenAI's Responses API (/v1/responses, Codex).
RESPONSE: Schema = obj(
    ["id", "object", "created_at", "status", "model", "output"],
    {
        "id": STR,
        "object": {"const": "response"},
        "created_at": INT,
        "status": {
            "description": "completed, incomplete, failed (in_progress while streaming).",
            **STR,
        },
        "model": STR,
        "output": {
            "description": "Items: `message`, `function_call`, `custom_tool_call`, `reasoning`.",
            "type": "array",
            "items": obj(["type"], {"type": STR}),
        },
        "previous_response_id": nullable("string"),
        "store": BOOL,
        "usage": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        "error": {"anyOf": [{"type": "object"}, {"type": "null"}]},
    },
)
RESPONSE_STREAM: Schema = obj(
    ["data"],
    {
        "event": {"description": "`response.created` … `response.completed`.", **STR},
        "data": {
            "description": "The event's JSON object; a failure after the first byte ends "
            "with `response.failed`.",
            **STR,
        },
    },
)
RESPONSE_ITEMS: Schema = obj(
    ["object", "data", "first_id", "last_id", "has_more"],
    {
        "object": {"const": "list"},
        "data": {"type": "array", "items": obj(["type"], {"type": STR, "id": STR})},
        "first_id": nullable("string"),
        "last_id": nullable("string"),
        "has_more": BOOL,
    },
)

OPENAPI_DOCUMENT: Schema = obj(
    ["openapi", "info", "paths", "components"],
    {"openapi": {"const": "3.1.0"}, "info": {"type": "object"}, "paths": {"type": "object"}},
)

HANDWRITTEN: dict[str, Schema] = {
    "Text": STR,
    "OpenAPIDocument": OPENAPI_DOCUMENT,
    "AnthropicError": ANTHROPIC_ERROR,
    "AnthropicMessage": ANTHROPIC_MESSAGE,
    "AnthropicStreamEvent": ANTHROPIC_STREAM,
    "CreateMessageRequest": CREATE_MESSAGE,
    "MessageTokenCount": TOKEN_COUNT,
    "Response": RESPONSE,
    "ResponseStreamEvent": RESPONSE_STREAM,
    "ResponseInputItems": RESPONSE_ITEMS,
    "ResponseDeleted": deleted("response", ["id"]),
    "Error": ERROR,
    "ChatCompletion": CHAT_COMPLETION,
    "ChatCompletionStream": CHAT_STREAM,
    "Model": MODEL,
    "ModelList": listing(ref("Model")),
    "Health": HEALTH,
    "Credential": CREDENTIAL,
    "CredentialAdded": CREDENTIAL_ADDED,
    "CredentialList": listing(ref("Credential")),
    "CredentialCheck": CREDENTIAL_CHECK,
    "CredentialDeleted": deleted("credential", ["provider", "account_id"]),
    "GatewayKey": GATEWAY_KEY,
    "GatewayKeyCreated": GATEWAY_KEY_CREATED,
    "GatewayKeyList": listing(ref("GatewayKey")),
    "GatewayKeyDeleted": deleted("gateway_key", ["id"]),
    "ProviderStatusList": listing(ref("ProviderStatus")),
    "ProviderStatus": PROVIDER_STATUS,
    "Routing": ROUTING,
    "Capacity": CAPACITY,
    "UsageSums": USAGE_SUMS,
    "UsageStats": USAGE_STATS,
}
