"""A fast fake OpenAI-compatible upstream for benchmarks, on raw ``asyncio.Protocol``.

Every answer is built once at start-up, so the fake costs a few microseconds per request and is
never what limits a Python gateway in front of it (a uvicorn/FastAPI fake would be).

- ``POST .../chat/completions``: a chat completion, or, when the body asks for ``"stream":
  true``, an SSE stream (chunked transfer, as real providers send it) of ``--chunks`` content
  chunks, a usage chunk and ``data: [DONE]``. With ``--chunk-delay-ms`` the first chunk leaves at
  once and each later one after that delay, so a relay that buffers shows up as a late first byte.
- A chat body with ``"tools"`` gets a tool call (whole, or streamed) instead of text.
- Faults, chosen by the model the body names (for ``bench/soak.py``): ``fault-500`` answers
  500; ``fault-garbage`` answers 200 with a body that is not JSON; ``fault-break`` streams its
  first chunk, then drops the connection; ``fault-hang`` never answers (the connection stays
  open until the client gives up).
- ``GET .../models`` and ``GET /health``: small JSON answers, for readiness probes.
- HTTP/1.1 keep-alive and pipelining; ``Connection: close`` is honoured.
- ``--fail-rate R``: that share of chat requests, drawn at random, answers 503 instead (the
  fault run of ``bench/faults.py``).

Loopback only: ``python bench/fake_upstream.py --port 9200``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
from typing import cast

MODEL = "llama-3.3-70b-versatile"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_TOOLS = re.compile(rb'"tools"\s*:\s*\[')
_FAULT = re.compile(rb'"model"\s*:\s*"fault-([a-z0-9]+)"')
_MAX_HEAD = 64 * 1024


def _http(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nx-ratelimit-remaining-requests: 999\r\n\r\n"
    )
    return head.encode() + body


def _completion() -> bytes:
    return _json(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1770770798,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello! How can I help you?"},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
            "system_fingerprint": "fp_bench",
        }
    )


TOOL_CALL = {
    "id": "call_bench_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}


def _tool_completion() -> bytes:
    return _json(
        {
            "id": "chatcmpl-bench-tool",
            "object": "chat.completion",
            "created": 1770770798,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                    "logprobs": None,
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39},
        }
    )


def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1770770839,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _sse(data: bytes) -> bytes:
    """One SSE event as one HTTP chunk."""
    event = b"data: " + data + b"\n\n"
    return f"{len(event):x}\r\n".encode() + event + b"\r\n"


def stream_parts(chunks: int, tools: bool = False) -> list[bytes]:
    """Head plus first chunk, then one part per later chunk, then usage, [DONE] and the end."""
    events = [_chunk({"role": "assistant", "content": ""})]
    if tools:
        call = {**TOOL_CALL, "index": 0}
        events += [_chunk({"tool_calls": [call]}), _chunk({}, finish="tool_calls")]
    else:
        events += [_chunk({"content": f"word{i} "}) for i in range(chunks)]
        events.append(_chunk({}, finish="stop"))
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1770770839,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks},
    }
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    parts = [head + _sse(_json(events[0])) + _sse(_json(events[1]))]
    parts += [_sse(_json(e)) for e in events[2:]]
    parts[-1] += _sse(_json(usage)) + _sse(b"[DONE]") + b"0\r\n\r\n"
    return parts


class Answers:
    def __init__(self, chunks: int, delay: float, fail_rate: float = 0.0) -> None:
        self.fail_rate = fail_rate
        self.unavailable = _http(
            "503 Service Unavailable",
            b'{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}',
        )
        self.completion = _http("200 OK", _completion())
        self.models = _http(
            "200 OK",
            json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode(),
        )
        self.health = _http("200 OK", b'{"status":"ok"}')
        self.not_found = _http(
            "404 Not Found",
            b'{"error":{"message":"no such route","type":"invalid_request_error",'
            b'"param":null,"code":"not_found"}}',
        )
        self.length_required = _http(
            "411 Length Required", b'{"error":{"message":"send a content-length"}}'
        )
        self.stream = stream_parts(chunks)
        self.stream_whole = b"".join(self.stream)
        self.tool_completion = _http("200 OK", _tool_completion())
        self.tool_stream = b"".join(stream_parts(chunks, tools=True))
        self.fault_500 = _http(
            "500 Internal Server Error",
            b'{"error":{"message":"injected fault","type":"server_error"}}',
        )
        self.garbage = _http("200 OK", b"<html>not json", "application/json")
        self.broken = self.stream[0]  # the head and first chunk, then the connection drops
        self.delay = delay


class FakeUpstream(asyncio.Protocol):
    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.streaming: asyncio.Task[None] | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.streaming is not None:
            self.streaming.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self.transport.close()
                return
            head = self.buffer[:end]
            if _CHUNKED.search(head):
                # Every client measured sends a content-length; anything else is refused loudly.
                self._send(self.answers.length_required, close=True)
                return
            match = _CONTENT_LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        line = head.split(b"\r\n", 1)[0]
        close = _CLOSE.search(head) is not None
        a = self.answers
        if line.startswith(b"POST ") and b"/chat/completions" in line:
            if a.fail_rate and random.random() < a.fail_rate:
                self._send(a.unavailable, close)
                return
            fault = _FAULT.search(body)
            if fault is not None:
                self._fault(fault.group(1))
                return
            stream, tools = _STREAM.search(body), _TOOLS.search(body)
            if stream and tools:
                reply = a.tool_stream
            elif stream:
                self._stream(close)
                return
            else:
                reply = a.tool_completion if tools else a.completion
        elif line.startswith(b"GET ") and b"/models" in line:
            reply = a.models
        elif line.startswith(b"GET /health"):
            reply = a.health
        else:
            reply = a.not_found
        self._send(reply, close)

    def _fault(self, kind: bytes) -> None:
        assert self.transport is not None
        if kind == b"hang":
            return  # no answer; the client closes the connection when it gives up
        if kind == b"break":
            self.transport.write(self.answers.broken)
            self.transport.close()
            self.transport = None
            return
        self._send(self.answers.garbage if kind == b"garbage" else self.answers.fault_500, False)

    def _send(self, reply: bytes, close: bool) -> None:
        # A request pipelined behind a delayed stream must wait its turn.
        if self.streaming is not None:
            self.pending.append(reply)
            return
        assert self.transport is not None
        self.transport.write(reply)
        if close:
            self.transport.close()
            self.transport = None

    def _stream(self, close: bool) -> None:
        a = self.answers
        if a.delay <= 0 and self.streaming is None:
            self._send(a.stream_whole, close)
            return
        if self.streaming is not None:
            self.pending.append(a.stream_whole)
            return
        self.streaming = asyncio.get_running_loop().create_task(self._paced(close))

    async def _paced(self, close: bool) -> None:
        for i, part in enumerate(self.answers.stream):
            if i:
                await asyncio.sleep(self.answers.delay)
            if self.transport is None:  # the client went away
                return
            self.transport.write(part)
        self.streaming = None
        # Answers to requests pipelined behind this stream go whole (no client measured here
        # pipelines).
        pending, self.pending = self.pending, []
        for reply in pending:
            self._send(reply, close=False)
        if close:
            self._send(b"", close=True)


async def serve(host: str, port: int, answers: Answers) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FakeUpstream(answers), host, port, backlog=1024)
    print(f"fake upstream on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0)
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share answering 503")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the fake upstream serves loopback only")
    answers = Answers(args.chunks, args.chunk_delay_ms / 1000, args.fail_rate)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, answers))
    else:
        uvloop.run(serve(args.host, args.port, answers))


if __name__ == "__main__":
    main()
