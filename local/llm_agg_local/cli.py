"""``llm-agg``: serve the gateway, chat with it, configure its accounts, and see its
models, routing, status and usage."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from llm_agg_local import chat_cli, configure, router_cli
from llm_agg_local.serve import serve as run_server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-agg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the gateway (all functions in one process)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--store", choices=("sqlite", "moto", "dynamodb"), default="sqlite")
    serve.add_argument("--require-auth", action="store_true")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    serve.set_defaults(func=run_server)

    def client_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="gateway URL (env LLM_AGG_URL; default 127.0.0.1:8000)")
        p.add_argument("--api-key", help="gateway key (env LLM_AGG_API_KEY)")

    chat_cli.add_command(sub, client_options)
    router_cli.add_commands(sub, client_options)
    configure.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`llm-agg models | head`): stop quietly, as cat does. Python would
        # flush stdout again at exit and fail once more, so it is pointed at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return result


if __name__ == "__main__":
    sys.exit(main())
