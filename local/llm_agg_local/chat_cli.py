"""``llm-agg chat``: one message, or an interactive conversation, with a running gateway."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from llm_agg_local.client import GatewayClient, GatewayClientError


def request_body(args: argparse.Namespace, messages: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": args.model, "messages": messages}
    if args.provider:
        body["provider"] = args.provider
    if args.model_quality:
        body["model_quality"] = args.model_quality
    if args.stream:
        body["stream"] = True
    return body


def _served_by(headers: Any) -> str:
    return (
        f"[{headers.get('x-llm-agg-provider')}/{headers.get('x-llm-agg-model')}, "
        f"attempts: {headers.get('x-llm-agg-attempts')}]"
    )


def _ask(client: GatewayClient, args: argparse.Namespace, messages: list[dict[str, Any]]) -> str:
    body = request_body(args, messages)
    if not args.stream:
        answer, headers = client.chat(body)
        text = answer["choices"][0]["message"].get("content") or ""
        print(text)
        print(_served_by(headers), file=sys.stderr)
        return str(text)
    parts: list[str] = []
    served = ""
    for item in client.chat_stream(body):
        if not isinstance(item, dict):
            served = _served_by(item)
            continue
        for choice in item.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content") or ""
            parts.append(piece)
            print(piece, end="", flush=True)
    print()
    print(served, file=sys.stderr)
    return "".join(parts)


def _chat(args: argparse.Namespace) -> int:
    client = GatewayClient(args.url, args.api_key)
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    if args.message is not None:
        try:
            _ask(client, args, [*messages, {"role": "user", "content": args.message}])
        except GatewayClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    print("Chatting with the gateway at " + client.url + ". Empty line or 'exit' ends.")
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if line in ("", "exit", "quit"):
            return 0
        try:
            answer = _ask(client, args, [*messages, {"role": "user", "content": line}])
        except GatewayClientError as exc:
            # The conversation so far is kept; the failed message is not part of it.
            print(f"error: {exc}", file=sys.stderr)
            print("(not sent: type it again to retry, or go on)", file=sys.stderr)
            continue
        messages += [{"role": "user", "content": line}, {"role": "assistant", "content": answer}]


def add_command(sub: Any, client_options: Any) -> None:
    chat = sub.add_parser("chat", help="chat with the gateway")
    client_options(chat)
    chat.add_argument("--model", default="auto")
    chat.add_argument("--provider")
    chat.add_argument("--model-quality", choices=("fastest", "balanced", "best_quality"))
    chat.add_argument("--message", "-m", help="send one message and print the answer")
    chat.add_argument("--system", help="a system message to start with")
    chat.add_argument("--stream", action="store_true")
    chat.set_defaults(func=_chat)
