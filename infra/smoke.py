"""Smoke test of a deployed gateway: ``/health``, then one streamed chat completion.

    python infra/smoke.py --url https://…/dev        (gateway key in LLM_AGG_API_KEY)

Checks what a deploy can break: the health route answers, a gateway key is accepted, and the
completion arrives as Server-Sent Events with text that end with ``[DONE]``. It prints when the
first and the last event arrived: a hop that buffers shows as both at once. Standard library
only, so the deploy workflow runs it without installing anything. Exit status 0 when all holds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

CHAT = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Count from 1 to 5, one number per line."}],
    "max_tokens": 32,
    "stream": True,
}


def _request(url: str, key: str | None, body: dict[str, Any] | None = None) -> Any:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    # main() admits only http(s) base URLs.
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    return urllib.request.urlopen(request, timeout=60)  # noqa: S310


def check_health(base: str, key: str | None) -> str:
    with _request(f"{base}/health", key) as response:
        health = json.load(response)
    if response.status != 200 or health.get("status") != "ok":
        raise AssertionError(f"/health answered {response.status}: {health}")
    return f"health ok (version {health.get('version')}, ready={health.get('ready')})"


def check_stream(base: str, key: str | None) -> str:
    started = time.monotonic()
    arrivals: list[float] = []
    text: list[str] = []
    done = False
    with _request(f"{base}/v1/chat/completions", key, CHAT) as response:
        kind = response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            raise AssertionError(f"expected an event stream, got {kind!r}")
        provider = response.headers.get("x-llm-agg-provider")
        for raw in response:  # one line at a time, as it arrives
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            arrivals.append(time.monotonic() - started)
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            event = json.loads(payload)
            if "error" in event:
                raise AssertionError(f"the stream carried an error: {event['error']}")
            for choice in event.get("choices") or ():
                text.append((choice.get("delta") or {}).get("content") or "")
    if not done:
        raise AssertionError("the stream ended without [DONE]")
    if not "".join(text).strip():
        raise AssertionError("the stream carried no text")
    return (
        f"stream ok via {provider}: {len(arrivals)} events, first after "
        f"{arrivals[0] * 1000:.0f} ms, last after {arrivals[-1] * 1000:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the gateway's base URL (stack output ApiUrl)")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        parser.error("--url must be an http(s) URL")
    key = os.environ.get("LLM_AGG_API_KEY") or None
    try:
        print(check_health(base, key))
        print(check_stream(base, key))
    except (AssertionError, urllib.error.URLError, ValueError) as exc:
        body = exc.read() if isinstance(exc, urllib.error.HTTPError) else b""
        detail = body.decode(errors="replace")[:500]
        print(f"smoke test failed: {exc} {detail}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
