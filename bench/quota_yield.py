"""Quota yield: how much of the providers' free tiers the gateway serves, and the 429s it
provokes upstream while doing so.

Fake Groq, Cerebras and OpenRouter accounts run on loopback and enforce their published
free-tier limits (requests per minute, hour and day, tokens per minute) on a compressed clock,
announcing them in their real header formats: Groq its requests per DAY and tokens per minute
on every answer, Cerebras ``-requests-day`` / ``-tokens-minute``, OpenRouter nothing until its
own 429 (``X-RateLimit-*``, reset in epoch milliseconds). The gateway (the chat app with a
SQLite store, in this process on the same clock, served by uvicorn on loopback) gets a catalog
that knows only what the headers do not say: Groq's and Cerebras's per-minute (and Cerebras's
per-hour) limits and OpenRouter's per-minute one; the daily quotas it must learn.

A client offers more traffic than the accounts allow, at a steady rate, and the run reports
requests served against the theoretical maximum (the most the limits let through for that
offered traffic), upstream 429s (all, and those after the provider's limits were known from
its headers), and 429s the client saw.

    .venv/bin/python bench/quota_yield.py                  # 40 simulated minutes, ~45 s
    .venv/bin/python bench/quota_yield.py --minutes 90 --speed 60 --rate 100

Goal: at least 99% of the maximum, and no upstream 429 once limits are known.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DAY_START = 1_893_456_000.0  # 2030-01-01T00:00:00Z: one UTC day holds the whole run
WINDOW = {"m": 60.0, "h": 3600.0, "d": 86400.0}
MODEL = "bench-model"
SENT_AT = "x-bench-sent-at"


class SimClock:
    """Epoch seconds on a clock running ``speed`` times faster than the real one."""

    def __init__(self, start: float, speed: float) -> None:
        self.start = start
        self.speed = speed
        self.origin = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self.origin) * self.speed


@dataclass
class Account:
    """One fake provider account: its limits, counts, and what it answered."""

    name: str
    dialect: str  # groq | cerebras | openrouter
    requests: dict[str, int]  # window → limit
    tokens: dict[str, int]
    counts: dict[tuple[str, str, int], int] = field(default_factory=dict)
    served: int = 0
    refused: int = 0
    refusals: list[tuple[float, str]] = field(default_factory=list)
    refused_after_known: int = 0
    known_at: float | None = None  # when its headers first told the gateway its limits

    def _used(self, kind: str, window: str, now: float) -> int:
        return self.counts.get((kind, window, int(now // WINDOW[window])), 0)

    def _reset(self, window: str, now: float) -> float:
        length = WINDOW[window]
        return (math.floor(now / length) + 1) * length - now

    def take(self, now: float, tokens: int) -> str | None:
        """Count one request, or name the window that refuses it."""
        for window, limit in self.requests.items():
            if self._used("r", window, now) + 1 > limit:
                return "r" + window
        for window, limit in self.tokens.items():
            if self._used("t", window, now) + tokens > limit:
                return "t" + window
        for kind, table, amount in (("r", self.requests, 1), ("t", self.tokens, tokens)):
            for window in table:
                key = (kind, window, int(now // WINDOW[window]))
                self.counts[key] = self.counts.get(key, 0) + amount
        return None

    def headers(self, now: float, refused: str | None) -> dict[str, str]:
        if self.dialect == "groq":
            return self._groq(now, refused)
        if self.dialect == "cerebras":
            return self._cerebras(now)
        return self._openrouter(now, refused)

    def _left(self, kind: str, window: str, table: dict[str, int], now: float) -> int:
        return max(0, table[window] - self._used(kind, window, now))

    def _groq(self, now: float, refused: str | None) -> dict[str, str]:
        out = {
            "x-ratelimit-limit-requests": str(self.requests["d"]),
            "x-ratelimit-remaining-requests": str(self._left("r", "d", self.requests, now)),
            "x-ratelimit-reset-requests": go_duration(self._reset("d", now)),
            "x-ratelimit-limit-tokens": str(self.tokens["m"]),
            "x-ratelimit-remaining-tokens": str(self._left("t", "m", self.tokens, now)),
            "x-ratelimit-reset-tokens": go_duration(self._reset("m", now)),
        }
        if refused:
            out["retry-after"] = str(math.ceil(self._reset(refused[1], now)))
        return out

    def _cerebras(self, now: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests-day": str(self.requests["d"]),
            "x-ratelimit-remaining-requests-day": str(self._left("r", "d", self.requests, now)),
            "x-ratelimit-reset-requests-day": f"{self._reset('d', now):.6f}",
            "x-ratelimit-limit-tokens-minute": str(self.tokens["m"]),
            "x-ratelimit-remaining-tokens-minute": str(self._left("t", "m", self.tokens, now)),
            "x-ratelimit-reset-tokens-minute": f"{self._reset('m', now):.6f}",
        }

    def _openrouter(self, now: float, refused: str | None) -> dict[str, str]:
        if refused is None:
            return {}  # OpenRouter sends no rate-limit headers on success
        window = refused[1]
        reset = self._reset(window, now)
        return {
            "X-RateLimit-Limit": str(self.requests[window]),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int((now + reset) * 1000)),
            "Retry-After": str(math.ceil(reset)),
        }


def go_duration(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)}h{int(minutes)}m{secs:.2f}s"
    if minutes:
        return f"{int(minutes)}m{secs:.2f}s"
    return f"{secs:.2f}s"


def free_tier_accounts() -> dict[str, Account]:
    """The published free-tier limits (config/providers.yaml, PROVIDERS.md section 7)."""
    return {
        "groq": Account("groq", "groq", {"m": 30, "d": 1000}, {"m": 12000, "d": 100000}),
        "cerebras": Account(
            "cerebras", "cerebras", {"m": 30, "h": 900, "d": 14400}, {"m": 60000, "d": 1000000}
        ),
        "openrouter": Account("openrouter", "openrouter", {"m": 20, "d": 50}, {}),
    }


# What the gateway is told: only the limits no header announces.
CATALOG = f"""
providers:
  groq:
    models:
      - {{id: {MODEL}, quality: 4, speed: 5, limits: {{rpm: 30}}}}
  cerebras:
    models:
      - {{id: {MODEL}, quality: 4, speed: 5, limits: {{rpm: 30, rph: 900}}}}
  openrouter:
    limits: {{rpm: 20}}
    models:
      - {{id: {MODEL}, quality: 4, speed: 4}}
"""


def fake_app(accounts: dict[str, Account], clock: Callable[[], float]) -> Starlette:
    async def chat(request: Request) -> Response:
        account = accounts[request.path_params["provider"]]
        body = await request.json()
        now = clock()
        # When the gateway sent it: a request already on its way when the limits became known
        # could not have been held back, and is not counted against the gateway.
        sent = float(request.headers.get(SENT_AT, now))
        prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4 + 8
        tokens = prompt + 7
        refused = account.take(now, tokens)
        headers = account.headers(now, refused)
        if refused is not None:
            account.refused += 1
            account.refusals.append((round(now - DAY_START, 3), refused))
            if account.known_at is not None and sent > account.known_at:
                account.refused_after_known += 1
            elif account.dialect == "openrouter":
                account.known_at = now  # its limits are told only by this 429
            message = f"Rate limit exceeded: {refused}"
            return JSONResponse({"error": {"message": message, "code": 429}}, 429, headers)
        account.served += 1
        if account.known_at is None and account.dialect != "openrouter":
            account.known_at = now
        usage = {"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": tokens}
        answer = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(now),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return JSONResponse(answer, headers=headers)

    return Starlette(routes=[Route("/{provider}/v1/chat/completions", chat, methods=["POST"])])


def theoretical_max(accounts: dict[str, Account], arrivals: list[float]) -> int:
    """The most requests the limits let through for these arrival times (when the client sent
    each, lag of a busy machine included): each arrival is
    served by any account with room in every window. Fixed windows nested in one another
    (minute, hour, day) make this greedy choice optimal."""
    fresh = {name: Account(a.name, a.dialect, dict(a.requests), {}) for name, a in accounts.items()}
    served = 0
    for moment in arrivals:
        for account in fresh.values():
            if account.take(moment, 0) is None:
                served += 1
                break
    return served


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def serve(app: Any, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    asyncio.get_running_loop().create_task(server.serve())
    for _ in range(200):
        if server.started:
            return server
        await asyncio.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def gateway_app(tmp: Path, fake_url: str, clock: Callable[[], float]) -> tuple[Any, Any, Any]:
    from llm_agg.apps.chat import create_chat_app
    from llm_agg.runtime import Runtime
    from llm_agg.settings import Settings
    from llm_agg.store.sqlite import sqlite_stores

    config = tmp / "providers.yaml"
    config.write_text(CATALOG)
    environ = {"LLM_AGG_CONFIG": str(config)}
    for name in ("groq", "cerebras", "openrouter"):
        environ[f"{name.upper()}_API_KEY"] = f"bench-{name}-key"
        environ[f"{name.upper()}_BASE_URL"] = f"{fake_url}/{name}/v1"
    settings = Settings(
        config_path=config, data_dir=tmp, environ=environ, discovery_interval=0, max_attempts=5
    )
    stores = sqlite_stores(tmp / "bench.sqlite3", clock)
    runtime = Runtime(settings, clock, stores)

    async def stamp(request: httpx.Request) -> None:
        request.headers[SENT_AT] = repr(clock())

    runtime._client = httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=5.0),
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        event_hooks={"request": [stamp]},
    )
    return create_chat_app(runtime), runtime, stores


async def offer(
    url: str, total: int, interval: float, limit: int, clock: Callable[[], float]
) -> tuple[dict[int, int], list[float]]:
    """``total`` requests, one every ``interval`` real seconds, at most ``limit`` at once:
    the statuses answered, and when (simulated) each request was sent."""
    statuses: dict[int, int] = {}
    sent: list[float] = []
    gate = asyncio.Semaphore(limit)
    body = {"model": "auto", "messages": [{"role": "user", "content": "Say ok."}]}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one() -> None:
            async with gate:
                sent.append(clock())
                try:
                    response = await client.post("/v1/chat/completions", json=body)
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
            statuses[status] = statuses.get(status, 0) + 1

        started = time.monotonic()
        tasks = []
        for i in range(total):
            delay = started + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return statuses, sorted(sent)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    clock = SimClock(DAY_START, args.speed)
    accounts = free_tier_accounts()
    per_minute = sum(a.requests["m"] for a in accounts.values())
    if args.rate <= per_minute:
        raise SystemExit(f"--rate must exceed the accounts' {per_minute} requests per minute")
    total = int(args.minutes * args.rate)
    interval = 60.0 / args.rate / args.speed  # real seconds between arrivals
    fake_port, gateway_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        fake = await serve(fake_app(accounts, clock), fake_port)
        app, runtime, stores = gateway_app(Path(tmp), f"http://127.0.0.1:{fake_port}", clock)
        gateway = await serve(app, gateway_port)
        clock.origin = time.monotonic()  # the simulated day starts with the traffic
        try:
            url = f"http://127.0.0.1:{gateway_port}"
            statuses, arrivals = await offer(url, total, interval, args.limit, clock)
        finally:
            gateway.should_exit = fake.should_exit = True
            await runtime.aclose()
            stores.close()
    best = theoretical_max(accounts, arrivals)
    served = statuses.get(200, 0)
    return {
        "simulated_minutes": args.minutes,
        "speed": args.speed,
        "offered": total,
        "served": served,
        "theoretical_max": best,
        "yield": round(served / best, 4) if best else None,
        "client_429": statuses.get(429, 0),
        "client_other": {str(k): v for k, v in statuses.items() if k not in (200, 429)},
        "upstream_429": sum(a.refused for a in accounts.values()),
        "upstream_429_after_known": sum(a.refused_after_known for a in accounts.values()),
        "providers": {
            name: {
                "served": a.served,
                "upstream_429": a.refused,
                "after_known": a.refused_after_known,
                "refusals": a.refusals[:20],
            }
            for name, a in accounts.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=40, help="simulated minutes of traffic")
    parser.add_argument("--speed", type=float, default=60, help="simulated seconds per real one")
    parser.add_argument("--rate", type=float, default=100, help="offered requests per sim minute")
    parser.add_argument("--limit", type=int, default=64, help="client requests in flight at most")
    args = parser.parse_args(argv)
    # Each skipped or failed attempt is logged; thousands of them would bury the report.
    logging.getLogger("llm_agg").setLevel(logging.ERROR)
    report = asyncio.run(run(args))
    print(json.dumps(report, indent=2))
    ok = (report["yield"] or 0) >= 0.99 and report["upstream_429_after_known"] == 0
    print(f"goal (>= 99% of max, no upstream 429 once known): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
