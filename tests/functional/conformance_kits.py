"""Per provider: where it lives, what it answered (recorded fixtures), and what the client
must see. The providers are the registry's: a provider added there is in the suite at once.
A native provider's expected values are written out; an OpenAI-compatible one's are read from
its own OpenAI-format fixture, since what it said must reach the client unchanged.

Where a provider has no recording of a case, another recording stands in, named here:
OpenAI's own (``openai/...``) for the OpenAI-compatible relays, and for Anthropic's parallel
tool calls, its recorded tool_use answer with a second block (built in ``anthropic_parallel``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from llm_agg.providers.registry import BUILTIN, build_registry
from llm_agg.providers.spec import ProviderSpec, env_prefix
from tests.support.fixtures import FIXTURES, headers, load, raw, sse_events
from tests.support.openai_stream import collect

PROVIDERS = tuple(BUILTIN)
NATIVE = tuple(name for name, spec in BUILTIN.items() if spec.kind != "openai")
RELAYED = tuple(name for name in PROVIDERS if name not in NATIVE)
MODEL = "conf-model"


def provider_env(provider: str) -> dict[str, str]:
    """The variables that configure ``provider`` at a stand-in host, its URL's path kept."""
    spec = BUILTIN[provider]
    env = {var: f"conf-{name}" for name, var in spec.url_vars.items()}
    if spec.key_required:
        env[spec.env_keys[0]] = f"{provider}-conformance-key"
    path = urlsplit(spec.base_url).path
    env[f"{env_prefix(provider)}_BASE_URL"] = f"http://{provider}.upstream{path}"
    return env


def spec_at(provider: str) -> ProviderSpec:
    return build_registry({}, provider_env(provider))[provider]


def chat_url(provider: str) -> str:
    path = {"anthropic": "/v1/messages", "cohere": "/v2/chat"}.get(provider, "/chat/completions")
    spec = spec_at(provider)
    return spec.base_url + path if spec.kind != "openai" else spec.chat_url


def own_or(provider: str, name: str, stand_in: str) -> str:
    """The provider's own recording of a case, else the named stand-in."""
    return f"{provider}/{name}" if (FIXTURES / provider / name).exists() else stand_in


def backup_of(provider: str) -> str:
    return "cerebras" if provider == "groq" else "groq"


ToolCall = tuple[str, str, dict[str, Any]]  # (id, name, arguments)


@dataclass(frozen=True)
class Expected:
    content: str | None = None
    usage: tuple[int, int] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)


def _calls(message: dict[str, Any]) -> list[ToolCall]:
    return [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls") or ()
    ]


def _openai_answer(name: str) -> Expected:
    data = load(name)
    message = data["choices"][0]["message"]
    usage = data["usage"]
    return Expected(
        message.get("content") or None,
        (usage["prompt_tokens"], usage["completion_tokens"]),
        _calls(message),
    )


def _openai_stream(name: str) -> Expected:
    out = collect(raw(name))
    usage = out.usage or next(c["usage"] for c in out.chunks if c.get("usage"))
    calls = [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in out.tool_calls
    ]
    return Expected(
        out.content or None, (usage["prompt_tokens"], usage["completion_tokens"]), calls
    )


COHERE_CALLS = [
    ("query_daily_sales_report_hgxxmkby3wta", "query_daily_sales_report", {"day": "2023-09-29"}),
    ("query_product_catalog_rpg0z5h8yyz2", "query_product_catalog", {"category": "Electronics"}),
]


# case → provider → (fixture, expected)
def _relayed(name: str, stand_in: str, read: Callable[[str], Expected]) -> dict[str, Any]:
    """Each relayed provider's own fixture of a case (or the stand-in), with what it says."""
    return {p: (f, read(f)) for p in RELAYED for f in [own_or(p, name, stand_in)]}


TEXT: dict[str, tuple[str, Expected]] = {
    **_relayed("response_text.json", "openai/response_text.json", _openai_answer),
    "anthropic": (
        "anthropic/response_end_turn.json",
        Expected("The weather in SF is currently **20°C** (68°F) and **Sunny**!", (705, 25)),
    ),
    "cohere": (
        "cohere/response_text.json",
        Expected(load("cohere/response_text.json")["message"]["content"][0]["text"], (71, 418)),
    ),
}

TOOL_CALL: dict[str, tuple[str, Expected]] = {
    **_relayed("response_tool_call.json", "openai/response_tool_call.json", _openai_answer),
    "anthropic": (
        "anthropic/response_tool_use.json",
        Expected(
            None,
            (597, 71),
            [("toolu_013DU6hV4C1M8dJ32ybQFAFi", "get_weather", {"location": "SF", "units": "c"})],
        ),
    ),
    "cohere": ("cohere/response_tool_call.json", Expected(None, (1032, 124), COHERE_CALLS)),
}

PARALLEL_ID = "toolu_01A09q90qw90lq917835lq9"


def anthropic_parallel() -> bytes:
    data = load("anthropic/response_tool_use.json")
    second = {**data["content"][0], "id": PARALLEL_ID, "input": {"location": "NYC", "units": "f"}}
    data["content"].append(second)
    return json.dumps(data).encode()


PARALLEL: dict[str, tuple[str | Callable[[], bytes], Expected]] = {
    **_relayed("-", "openai/response_parallel_tool_calls.json", _openai_answer),
    "anthropic": (
        anthropic_parallel,
        Expected(
            None,
            (597, 71),
            [
                ("toolu_013DU6hV4C1M8dJ32ybQFAFi", "get_weather", {"location": "SF", "units": "c"}),
                (PARALLEL_ID, "get_weather", {"location": "NYC", "units": "f"}),
            ],
        ),
    ),
    "cohere": (
        "cohere/recorded_response_tool_call.json",
        Expected(
            None,
            (1549, 103),
            [
                ("weather_dqgshstja6p9", "weather", {"location": "San Francisco"}),
                ("cityAttractions_dcxfx4myvx68", "cityAttractions", {"city": "San Francisco"}),
            ],
        ),
    ),
}

STREAM_TEXT: dict[str, tuple[str, Expected]] = {
    **_relayed("stream_text.sse", "openai/stream_text_with_usage.sse", _openai_stream),
    "anthropic": ("anthropic/stream_text.sse", Expected("Hello there!", (11, 6))),
    "cohere": (
        "cohere/stream_text.sse",
        Expected(
            "LLMs stand for Large Language Models, which are a type of neural network model "
            "specialized in processing and generating human language.",
            (71, 26),
        ),
    ),
}

STREAM_TOOL: dict[str, tuple[str, Expected]] = {
    **_relayed("stream_tool_call.sse", "openai/stream_tool_call_with_usage.sse", _openai_stream),
    "anthropic": (
        "anthropic/stream_tool_use.sse",
        Expected(
            "I'll check the current weather in Paris for you.",
            (377, 65),
            [("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})],
        ),
    ),
    "cohere": (
        "cohere/stream_tool_call.sse",
        Expected(
            None,
            (1589, 135),
            [
                (
                    "query_daily_sales_report_j3f0adww9pmr",
                    "query_daily_sales_report",
                    {"day": "2023-09-29"},
                ),
                (
                    "query_product_catalog_c66nf11r6s8g",
                    "query_product_catalog",
                    {"category": "Electronics"},
                ),
            ],
        ),
    ),
}

# The answer that stops at max tokens; a .sse one is asked for as a stream.
LENGTH = {
    **{p: "openai/response_finish_length.json" for p in RELAYED},
    "cerebras": "cerebras/response_length_reasoning_only.json",
    "anthropic": "anthropic/stream_max_tokens_in_tool_use.sse",
    "cohere": "cohere/recorded_response_max_tokens.json",
}

# A stream that breaks after some content: the client must get an error event, never [DONE].
COHERE_FAILED_END = (
    b'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":"ERROR",'
    b'"error":"internal server error"}}\n\n'
)


def cohere_failed_stream() -> bytes:
    """cohere/stream_text.sse up to its last content delta, then a failed message-end."""
    kept = raw("cohere/stream_text.sse").split(b"event: content-end")[0]
    return kept + COHERE_FAILED_END


MIDSTREAM_ERROR: dict[str, str | Callable[[], bytes]] = {
    **{
        p: own_or(p, "stream_midstream_error.sse", "openai/stream_midstream_error.sse")
        for p in RELAYED
    },
    "anthropic": "anthropic/stream_error_overloaded.sse",
    "cohere": cohere_failed_stream,
}


# Streams that fail before saying anything: the request must go to the next provider.
def anthropic_early_error() -> bytes:
    """stream_error_overloaded.sse without its content: message_start, ping, then the error."""
    start, _, ping, _, error = sse_events("anthropic/stream_error_overloaded.sse")
    return start + ping + error


EARLY_ERROR: dict[str, Callable[[], bytes]] = {
    "anthropic": anthropic_early_error,
    "cohere": lambda: sse_events("cohere/stream_text.sse")[0] + COHERE_FAILED_END,
    "openrouter": lambda: raw("openrouter/stream_midstream_rate_limit.sse"),
}


def body_of(source: str | Callable[[], bytes]) -> bytes:
    return source() if callable(source) else raw(source)


def error_cases() -> list[tuple[str, int, str]]:
    """(provider, status, fixture) for every recorded error body of every provider."""
    cases = []
    for provider in PROVIDERS:
        for path in sorted((FIXTURES / provider).glob("error_*.json")):
            status = int(path.name.split("_")[1].split(".")[0])
            cases.append((provider, status, f"{provider}/{path.name}"))
    return cases


def error_headers(provider: str, status: int) -> dict[str, str]:
    path = FIXTURES / provider / f"error_{status}_response_headers.txt"
    return headers(f"{provider}/{path.name}") if path.exists() else {}


def fixture_message(data: Any) -> str:
    """The message a fixture's error carries, in whichever envelope (Gemini's one-element
    array, Cloudflare's ``errors`` list)."""
    if isinstance(data, list):
        (data,) = data
    if isinstance(data.get("errors"), list):
        return str(data["errors"][0]["message"])
    inner = data.get("error", data)
    message = inner["message"] if isinstance(inner, dict) else inner
    if isinstance(message, dict):  # Mistral's validation errors, said in words
        return "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in message["detail"])
    return str(message)
