"""What the native adapters (Anthropic, Cohere) share: reading the client's OpenAI request and
writing OpenAI answers, so both give the client exactly the shape an OpenAI model would.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from llm_agg.api.chat import ChatCall, ContentPart, ResponseFormat, TextPart
from llm_agg.api.errors import InvalidRequest
from llm_agg.api.validation import MAX_DEPTH, within_depth
from llm_agg.providers.base import MalformedResponse, Target, UpstreamRequest, Usage
from llm_agg.providers.spec import ProviderSpec

log = logging.getLogger("llm_agg.providers")


def log_dropped(call: ChatCall, spec: ProviderSpec) -> None:
    """Fields this provider leaves out, by name only: never their content."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    names = sorted(name for name in call.body if spec.fate(name) == "drop")
    if names:
        log.debug("%s: dropped request fields %s", spec.name, ", ".join(names))


def upstream_request(
    call: ChatCall, target: Target, path: str, auth: dict[str, str], body: dict[str, Any]
) -> UpstreamRequest:
    """The POST of ``body`` to ``path`` under the provider's base URL."""
    spec = target.spec
    if (reason := spec.refusal_for(call.body)) is not None:
        # The router skips refused targets; a caller that did not ask it gets a clear 400.
        raise InvalidRequest(reason[:1].upper() + reason[1:] + ".")
    log_dropped(call, spec)
    headers = {"content-type": "application/json", **auth, **target.account.headers}
    return UpstreamRequest(spec.base_url.rstrip("/") + path, headers, orjson.dumps(body))


def max_tokens(call: ChatCall, target: Target) -> int | None:
    """The client's output limit, held to the model's (from the catalog): a request that asks
    for more than this model can write is served up to its limit instead of refused, so a
    request routed by "auto" is not failed by one provider's smaller ceiling."""
    asked = call.request.max_completion_tokens or call.request.max_tokens
    limit = target.max_output
    return min(asked, limit) if asked and limit else asked


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def stop_list(stop: str | list[str] | None) -> list[str] | None:
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def part_text(part: ContentPart) -> str | None:
    """The text of a text part, or of an assistant's refusal part."""
    if isinstance(part, TextPart):
        return part.text
    if part.type == "refusal":
        refusal = (part.model_extra or {}).get("refusal")
        return refusal if isinstance(refusal, str) else None
    return None


def text_of(content: str | list[ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(text for part in content if (text := part_text(part)))


def parse_arguments(arguments: str) -> dict[str, Any]:
    """A tool call's JSON-string arguments as the object native formats want; ``{}`` when the
    string is not a JSON object (a model's broken output, or Cohere's ``"null"``)."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(value, dict) and not within_depth(value):
        raise InvalidRequest(f"Tool call arguments nest JSON deeper than {MAX_DEPTH} levels.")
    return value if isinstance(value, dict) else {}


def json_instruction(fmt: ResponseFormat | None) -> str | None:
    """JSON mode for a provider that has none: said in words, as OpenAI's own docs advise."""
    if fmt is None or fmt.type == "text":
        return None
    rule = "Reply with one valid JSON object and nothing else: no prose, no Markdown code fences."
    schema = (fmt.json_schema or {}).get("schema")
    if fmt.type == "json_schema" and schema is not None:
        return f"{rule} It must conform to this JSON schema: {orjson.dumps(schema).decode()}"
    return rule


def loads_object(body: bytes, provider: str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse(f"{provider} answer is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedResponse(f"{provider} answer is not a JSON object")
    return data


def count(value: Any) -> int:
    """A token count as sent (Cohere sends ``18.0``); 0 when absent."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def usage_dict(usage: Usage, cached: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion_body(
    *,
    id: str,
    created: int,
    model: str,
    text: list[str],
    reasoning: list[str],
    tool_calls: list[dict[str, Any]],
    finish_reason: str,
    usage: Usage | None,
    cached: int = 0,
) -> bytes:
    """A ``chat.completion`` as OpenAI writes it: ``content`` is null when the answer is only
    tool calls; ``reasoning_content`` (as DeepSeek and vLLM name it) only when there is some."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text or not tool_calls else None,
        "refusal": None,
    }
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if tool_calls:
        message["tool_calls"] = tool_calls
    answer: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        answer["usage"] = usage_dict(usage, cached)
    return orjson.dumps(answer)
