"""In-process CPU cost of ``/v1/messages`` and ``/v1/responses`` next to chat: what each adds
to a request before it is dispatched, and to a stream.

Measured in CPU time (``time.process_time``), so a machine busy with other work moves it less
than latency; still, on a shared machine read the minimum over rounds (the least disturbed)
next to the median. Every round times each case in turn (interleaved), with the garbage
collector on, as in the server.

    .venv/bin/python bench/transforms.py --rounds 9 --iterations 200

Rows:
- request: parsing the body and building the chat call the dispatcher serves (chat: parsing
  and validating the chat body; messages/responses: validating their body, translating it,
  and the chat call), for a one-line question and for a coding agent's request (Claude
  Code's shape for Messages, Codex's for Responses, ~47 KB each; chat is timed on the chat
  body each of them becomes).
- stream: a 20-chunk chat stream, as the dispatcher relays it, through the generator each app
  wraps it in (``apps/messages._translated``, ``responses/relay.relay``; chat: none, the
  frames drained as they are, which is the event loop's own share), whole and up to the first
  frames that go out (what the translation adds to the time to first byte).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from llm_agg.api.chat import ChatCall, chat_call, parse_chat
from llm_agg.api.messages import parse_messages
from llm_agg.api.responses import parse_responses
from llm_agg.api.validation import json_object
from llm_agg.apps.messages import _translated
from llm_agg.bridges.messages_in import chat_body
from llm_agg.bridges.messages_out import MessagesStream
from llm_agg.responses.output import shell
from llm_agg.responses.relay import relay
from llm_agg.responses.request import to_chat
from llm_agg.responses.stream import ResponsesStream
from llm_agg.routing.catalog import Catalog

ASK = "Say hello."
_CATALOG = Catalog()
_PLAIN = parse_responses({"model": "m", "input": ASK})
_LOOP = asyncio.new_event_loop()


def claude_code_request() -> dict[str, Any]:
    """A request of Claude Code's shape and size: a long system prompt in blocks, many tools,
    a conversation with tool use and results."""
    schema = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "description": "x" * 80} for i in range(6)},
        "required": ["p0"],
    }
    tools = [
        {"name": f"tool_{i}", "description": "d" * 400, "input_schema": schema} for i in range(16)
    ]
    turns: list[dict[str, Any]] = []
    for i in range(8):
        use = {"type": "tool_use", "id": f"toolu_{i}", "name": "tool_1", "input": {"p0": "a.py"}}
        result = {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "line\n" * 200}
        turns += [
            {"role": "user", "content": [{"type": "text", "text": "Fix the bug " * 20}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Looking."}, use]},
            {"role": "user", "content": [result]},
        ]
    system = [
        {
            "type": "text",
            "text": "You are Claude Code. " * 600,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": system,
        "tools": tools,
        "messages": turns,
        "stream": True,
    }


def codex_request() -> dict[str, Any]:
    """A request of Codex CLI's shape and size: long instructions, function tools and a
    freeform ``apply_patch`` with its grammar, a conversation with reasoning, calls and their
    outputs."""
    schema = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "description": "x" * 80} for i in range(6)},
        "required": ["p0"],
    }
    tools: list[dict[str, Any]] = [
        {"type": "function", "name": f"tool_{i}", "description": "d" * 400, "parameters": schema}
        for i in range(12)
    ]
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch\n" * 60}
    tools.append({"type": "custom", "name": "apply_patch", "description": "Edit files.", **{}})
    tools[-1]["format"] = grammar
    items: list[dict[str, Any]] = []
    for i in range(8):
        items += [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Fix the bug " * 20}],
            },
            {"type": "reasoning", "summary": [], "encrypted_content": "e" * 200},
            {
                "type": "function_call",
                "call_id": f"call_{i}",
                "name": "tool_1",
                "arguments": '{"p0":"a.py"}',
            },
            {"type": "function_call_output", "call_id": f"call_{i}", "output": "line\n" * 200},
        ]
    return {
        "model": "groq/llama-3.3-70b-versatile",
        "instructions": "You are Codex. " * 900,
        "input": items,
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
    }


def chat_stream(chunks: int = 20) -> list[bytes]:
    """A chat stream as the dispatcher relays it: one SSE event a read."""
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"content": f"word{i} "}}]}
        for i in range(chunks)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 20}})
    return [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


# --- what each endpoint does, as the apps do it ----------------------------------------------


def messages_call(raw: bytes) -> ChatCall:
    _, request = parse_messages(raw)
    return chat_call(chat_body(request, _CATALOG))


def responses_call(raw: bytes) -> ChatCall:
    body = json_object(raw)
    request = parse_responses(body)
    translation = to_chat(request, body)
    shell(request, "resp_1", 0.0, request.model)
    return translation.call


async def _reads(reads: list[bytes]) -> AsyncIterator[bytes]:
    for read in reads:
        yield read


async def _drain(relayed: AsyncIterator[bytes], first_only: bool) -> None:
    async for _ in relayed:
        if first_only:
            break
    await relayed.aclose()


async def _kept(_: dict[str, Any]) -> None:
    return None


def relayed_stream(api: str, reads: list[bytes], first_only: bool = False) -> None:
    """One stream through the very generator the app wraps the dispatcher's stream in (chat:
    the dispatcher's frames as they are); ``first_only``: up to its first frames."""
    if api == "messages":
        relayed = _translated(_reads(reads), MessagesStream("m", 1, False, []))
    elif api == "responses":
        response = shell(_PLAIN, "resp_1", 0.0, "m")
        relayed = relay(_reads(reads), ResponsesStream(response, frozenset()), _kept)
    else:
        relayed = _reads(reads)
    _LOOP.run_until_complete(_drain(relayed, first_only))


def cases() -> dict[str, Callable[[], object]]:
    small_m = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [
        {"role": "user", "content": ASK}]}).encode()  # fmt: skip
    small_r = json.dumps({"model": "groq/llama-3.3-70b-versatile", "input": ASK}).encode()
    large_m = json.dumps(claude_code_request()).encode()
    large_r = json.dumps(codex_request()).encode()
    # chat is timed on the very chat bodies the two APIs become
    chat_of_m = json.dumps(messages_call(large_m).body).encode()
    chat_of_r = json.dumps(responses_call(large_r).body).encode()
    small_c = json.dumps(messages_call(small_m).body).encode()
    reads = chat_stream()
    return {
        "small request: chat": lambda: parse_chat(small_c),
        "small request: messages": lambda: messages_call(small_m),
        "small request: responses": lambda: responses_call(small_r),
        f"Claude Code request ({len(large_m) // 1000} KB): chat body": lambda: parse_chat(
            chat_of_m
        ),
        "Claude Code request: messages": lambda: messages_call(large_m),
        f"Codex request ({len(large_r) // 1000} KB): chat body": lambda: parse_chat(chat_of_r),
        "Codex request: responses": lambda: responses_call(large_r),
        "20-chunk stream: chat": lambda: relayed_stream("chat", reads),
        "20-chunk stream: messages": lambda: relayed_stream("messages", reads),
        "20-chunk stream: responses": lambda: relayed_stream("responses", reads),
        "first frames: chat": lambda: relayed_stream("chat", reads, first_only=True),
        "first frames: messages": lambda: relayed_stream("messages", reads, first_only=True),
        "first frames: responses": lambda: relayed_stream("responses", reads, first_only=True),
    }


def measure(rounds: int, iterations: int) -> dict[str, list[float]]:
    """CPU µs per call of every case, one figure per round."""
    timed = cases()
    figures: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(rounds):
        for name, work in timed.items():
            started = time.process_time()
            for _ in range(iterations):
                work()
            figures[name].append((time.process_time() - started) / iterations * 1e6)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    figures = measure(args.rounds, args.iterations)
    print("| CPU µs per call | min | median |\n| --- | ---: | ---: |")
    for name, values in figures.items():
        print(f"| {name} | {min(values):,.1f} | {statistics.median(values):,.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
