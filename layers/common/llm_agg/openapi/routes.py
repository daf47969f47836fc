"""Every public route of the gateway, one ``Operation`` each: the table the OpenAPI document at
``/openapi.json`` is made of. A new route adds its entry here (its body model, if any, is
published with it); ``tests/e2e/test_openapi_e2e.py`` then checks the server against it.
"""

from __future__ import annotations

from llm_agg.admin.models import CredentialIn, CredentialPatch, KeyIn
from llm_agg.api.agent import CodeAgentRequest, ResumeAgentRequest
from llm_agg.api.chat import ChatRequest
from llm_agg.api.messages import MessagesRequest
from llm_agg.api.responses import ResponsesRequest
from llm_agg.openapi.spec import Answer, Operation, Param

ROUTED = {
    "x-llm-agg-provider": "The provider that served the answer.",
    "x-llm-agg-model": "The model that served it.",
    "x-llm-agg-attempts": "How many attempts it took (failovers + 1).",
}
PROVIDER = Param("provider", "path", {"type": "string"}, "A provider of the catalog.", "groq")
ACCOUNT = Param("account_id", "path", {"type": "string"}, "Letters, digits, `._@+-`.", "work")
DAY = {"type": "string", "format": "date"}
HELLO = [{"role": "user", "content": "Hello! How are you?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
GATEWAY_ERRORS = (401, 429, 503)  # no key where one is needed; the key's limits; store down
# No or wrong admin key; a gateway key; 10 wrong keys from one address in a minute; store or
# KMS down.
ADMIN_ERRORS = (401, 403, 429, 503)
ADMIN_BODY_ERRORS = (400, 413, *ADMIN_ERRORS)

CHAT = [
    Operation(
        "post",
        "/v1/chat/completions",
        "Chat completion, from the first provider that can serve it (OpenAI's API)",
        "chat",
        "gateway",
        {200: Answer("ChatCompletion", stream="ChatCompletionStream", headers=ROUTED)},
        errors=(400, 404, 413, 415, 502, 504, *GATEWAY_ERRORS),
        body=ChatRequest,
        examples={
            "auto": {"model": "auto", "messages": HELLO},
            "stream": {
                "model": "auto",
                "messages": HELLO,
                "stream": True,
                "stream_options": {"include_usage": True},
                "model_quality": "fastest",
            },
            "tools": {"model": "auto", "messages": HELLO, "tools": [WEATHER]},
            "json": {
                "model": "auto",
                "messages": HELLO,
                "response_format": {"type": "json_object"},
            },
        },
        description="`model` is `auto`, `provider/model` or a bare id; `provider` and "
        "`model_quality` steer routing and are never forwarded. With `stream: true` the answer "
        "is server-sent events.",
    ),
    Operation(
        "get",
        "/v1/models",
        "The models routable now (`auto` first)",
        "chat",
        "gateway",
        {200: Answer("ModelList")},
        errors=GATEWAY_ERRORS,
    ),
]

MESSAGES = [
    Operation(
        "post",
        "/v1/messages",
        "Anthropic's Messages API (Claude Code), over every provider",
        "messages",
        "gateway",
        {200: Answer("AnthropicMessage", stream="AnthropicStreamEvent", headers=ROUTED)},
        errors=(400, 404, 413, 415, 502, 504, *GATEWAY_ERRORS),
        body="CreateMessageRequest",
        error_schema="AnthropicError",
        description="Served by the same routing, quota and failover as chat completions; "
        "every error in Anthropic's shape. A gateway key may come as `x-api-key` too.",
        examples={
            "hello": {"model": "auto", "max_tokens": 64, "messages": HELLO},
            "stream": {"model": "auto", "max_tokens": 64, "messages": HELLO, "stream": True},
        },
    ),
    Operation(
        "post",
        "/v1/messages/count_tokens",
        "Estimate a Messages request's input tokens",
        "messages",
        "gateway",
        {200: Answer("MessageTokenCount")},
        errors=(400, 404, 413, 415, *GATEWAY_ERRORS),
        body=MessagesRequest,
        error_schema="AnthropicError",
        examples={"hello": {"model": "auto", "messages": HELLO}},
    ),
]

RESPONSE_ID = Param("response_id", "path", {"type": "string"}, example="resp_0123456789abcdef")
RESPONSES = [
    Operation(
        "post",
        "/v1/responses",
        "OpenAI's Responses API (Codex), over every provider",
        "responses",
        "gateway",
        {200: Answer("Response", stream="ResponseStreamEvent", headers=ROUTED)},
        errors=(400, 404, 413, 415, 502, 504, *GATEWAY_ERRORS),
        body=ResponsesRequest,
        description="Translated to a chat call and served as chat is. `store` keeps the "
        "response (and its input) for `previous_response_id` and the reads below.",
        examples={
            "hello": {"model": "auto", "input": "Hello! How are you?"},
            "stream": {"model": "auto", "input": "Hello!", "stream": True, "store": False},
        },
    ),
    Operation(
        "get",
        "/v1/responses",
        "Refused: a WebSocket upgrade gets 426 (Codex then POSTs), any other GET 405",
        "responses",
        "gateway",
        {},
        errors=(405, 426),
    ),
    Operation(
        "get",
        "/v1/responses/{response_id}",
        "A kept response",
        "responses",
        "gateway",
        {200: Answer("Response")},
        errors=(404, *GATEWAY_ERRORS),
        params=(RESPONSE_ID,),
    ),
    Operation(
        "delete",
        "/v1/responses/{response_id}",
        "Forget a kept response",
        "responses",
        "gateway",
        {200: Answer("ResponseDeleted")},
        errors=(404, *GATEWAY_ERRORS),
        params=(RESPONSE_ID,),
    ),
    Operation(
        "get",
        "/v1/responses/{response_id}/input_items",
        "The input items of a kept response, a page at a time",
        "responses",
        "gateway",
        {200: Answer("ResponseInputItems")},
        errors=(400, 404, *GATEWAY_ERRORS),
        params=(
            RESPONSE_ID,
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}),
            Param("order", "query", {"enum": ["asc", "desc"]}),
            Param("after", "query", {"type": "string"}, "An item id: the page after it."),
        ),
    ),
]

AGENT = [
    Operation(
        "post",
        "/v1/agents/code/invoke",
        "Run the coding agent on an instruction",
        "agent",
        "gateway",
        {200: Answer("CodeAgentResponse")},
        errors=(400, 404, 409, 413, 415, *GATEWAY_ERRORS),
        body=CodeAgentRequest,
        examples={"fix": {"instruction": "Fix the off-by-one in pager.py", "language": "python"}},
        description="Always answers the agent's state; `agent_status` says what to do next.",
    ),
    Operation(
        "post",
        "/v1/agents/resume",
        "Resume a paused agent thread (a human's answer, client tool results, or nothing)",
        "agent",
        "gateway",
        {200: Answer("CodeAgentResponse")},
        errors=(400, 404, 409, 413, 415, *GATEWAY_ERRORS),
        body=ResumeAgentRequest,
        examples={"again": {"thread_id": "th_0123456789abcdef"}},
    ),
]

ADMIN = [
    Operation(
        "post",
        "/admin/credentials",
        "Store a provider account's key, encrypted (`verify` checks it with the provider)",
        "admin",
        "admin",
        {
            200: Answer("CredentialAdded", "Replaced the account's key."),
            201: Answer("CredentialAdded", "Added."),
        },
        errors=(502, *ADMIN_BODY_ERRORS),  # 502: `verify` asked a provider that did not answer
        body=CredentialIn,
        examples={"groq": {"provider": "groq", "account_id": "work", "api_key": "gsk_example_key"}},
    ),
    Operation(
        "get",
        "/admin/credentials",
        "Every account, from the environment and the store, keys masked",
        "admin",
        "admin",
        {200: Answer("CredentialList")},
        errors=(404, *ADMIN_ERRORS),
        params=(Param("provider", "query", {"type": "string"}, "Only this provider's."),),
    ),
    Operation(
        "patch",
        "/admin/credentials/{provider}/{account_id}",
        "Enable or disable a stored account",
        "admin",
        "admin",
        {200: Answer("Credential")},
        errors=(404, *ADMIN_BODY_ERRORS),
        body=CredentialPatch,
        examples={"off": {"enabled": False}},
        params=(PROVIDER, ACCOUNT),
    ),
    Operation(
        "delete",
        "/admin/credentials/{provider}/{account_id}",
        "Delete a stored account",
        "admin",
        "admin",
        {200: Answer("CredentialDeleted")},
        errors=(400, 404, *ADMIN_ERRORS),
        params=(PROVIDER, ACCOUNT),
    ),
    Operation(
        "post",
        "/admin/credentials/{provider}/{account_id}/check",
        "Ask the provider whether this account's key still works",
        "admin",
        "admin",
        {200: Answer("CredentialCheck")},
        errors=(404, *ADMIN_ERRORS),
        params=(PROVIDER, ACCOUNT),
    ),
    Operation(
        "post",
        "/admin/keys",
        "Make a gateway key (shown once), with optional expiry and limits",
        "admin",
        "admin",
        {201: Answer("GatewayKeyCreated", "Made.")},
        errors=ADMIN_BODY_ERRORS,
        body=KeyIn,
        examples={
            "laptop": {"name": "laptop", "requests_per_minute": 30, "tokens_per_day": 200000}
        },
    ),
    Operation(
        "get",
        "/admin/keys",
        "Every gateway key (never the key itself)",
        "admin",
        "admin",
        {200: Answer("GatewayKeyList")},
        errors=ADMIN_ERRORS,
    ),
    Operation(
        "delete",
        "/admin/keys/{key_id}",
        "Revoke a gateway key",
        "admin",
        "admin",
        {200: Answer("GatewayKeyDeleted")},
        errors=(404, *ADMIN_ERRORS),
        params=(Param("key_id", "path", {"type": "string"}),),
    ),
    Operation(
        "get",
        "/admin/capacity",
        "Free capacity left now: each configured provider's shared and per-model windows",
        "admin",
        "admin",
        {200: Answer("Capacity")},
        errors=ADMIN_ERRORS,
        params=(Param("all", "query", {"enum": ["1", "true"]}, "Paid models too."),),
    ),
    Operation(
        "get",
        "/admin/providers",
        "Each provider's accounts: health, cooldowns, quota left, requests today",
        "admin",
        "admin",
        {200: Answer("ProviderStatusList")},
        errors=ADMIN_ERRORS,
    ),
    Operation(
        "get",
        "/admin/routing",
        "The routing rules, and the order `auto` tries under each `model_quality`",
        "admin",
        "admin",
        {200: Answer("Routing")},
        errors=ADMIN_ERRORS,
    ),
    Operation(
        "get",
        "/admin/usage-stats",
        "Requests, errors, failovers, tokens and latency by day, provider, model, account, key",
        "admin",
        "admin",
        {200: Answer("UsageStats")},
        errors=(400, 404, *ADMIN_ERRORS),
        params=(
            Param(
                "start", "query", DAY, "First day (default: six days before `end`).", "2026-01-01"
            ),
            Param("end", "query", DAY, "Last day (default: today, UTC); 366 days at most."),
            Param("provider", "query", {"type": "string"}, "Only this provider's."),
        ),
    ),
]

PUBLIC = [
    Operation(
        "get",
        "/health",
        "Liveness, and whether some provider can serve now",
        "health",
        "none",
        {200: Answer("Health")},
    ),
    Operation(
        "get",
        "/openapi.json",
        "This document",
        "health",
        "none",
        {200: Answer("OpenAPIDocument")},
    ),
    Operation(
        "get",
        "/ui",
        "The web page (chat, dashboard, settings, analytics)",
        "ui",
        "none",
        {200: Answer("Text", "The page.", media="text/html"), 304: Answer("", "Not modified.")},
    ),
    Operation(
        "get",
        "/",
        "Redirects to the web page",
        "ui",
        "none",
        {307: Answer("", "To the page.", headers={"location": "The page's URL."})},
    ),
    Operation(
        "get",
        "/ui/",
        "Redirects to the page",
        "ui",
        "none",
        {308: Answer("", "To `../ui`.", headers={"location": "`../ui`, relative."})},
    ),
    Operation(
        "get",
        "/ui/static/{name}",
        "A file of the web page",
        "ui",
        "none",
        {200: Answer("Text", "The file.", media="*/*"), 304: Answer("", "Not modified.")},
        errors=(404,),
        params=(Param("name", "path", {"type": "string"}, example="js/main.js"),),
    ),
]

OPERATIONS: list[Operation] = [*CHAT, *MESSAGES, *RESPONSES, *AGENT, *ADMIN, *PUBLIC]
