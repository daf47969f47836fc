"""The router's CLI commands: ``route --explain`` (offline), and ``models``, ``status`` and
``stats``, which ask a running gateway (local, or ``--url``) through its API."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from llm_agg_local.chat_cli import request_body
from llm_agg_local.client import DEFAULT_URL, GatewayClient, GatewayClientError

QUALITIES = ("fastest", "balanced", "best_quality")


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def moment(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _stored_providers(settings: Any) -> set[str]:
    """Providers with an enabled account in the local store, read without decrypting anything
    (and without making the store if it does not exist yet)."""
    from llm_agg.store.factory import SQLITE_FILE
    from llm_agg.store.sqlite import sqlite_stores

    path = settings.data_dir / SQLITE_FILE
    if settings.store != "sqlite" or not path.is_file():
        return set()
    stores = sqlite_stores(path)
    try:
        return {r.provider for r in stores.credentials.list() if r.enabled}
    finally:
        stores.close()


def _route(args: argparse.Namespace) -> int:
    from llm_agg.api.chat import parse_chat
    from llm_agg.api.errors import GatewayError
    from llm_agg.providers.accounts import env_accounts
    from llm_agg.providers.registry import build_registry
    from llm_agg.routing.catalog import CatalogError, load_catalog
    from llm_agg.routing.explain import explain
    from llm_agg.settings import Settings

    try:
        settings = Settings.from_env()
        catalog = load_catalog(settings.config_path)
        specs = build_registry(catalog.providers, settings.environ)
    except (CatalogError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    content: Any = args.explain
    if args.image:
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        content = [{"type": "text", "text": args.explain}, image]
    messages = [{"role": "user", "content": content}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    body = request_body(args, messages)
    if args.tools:
        body["tools"] = [{"type": "function", "function": {"name": "example", "parameters": {}}}]
    if args.json:
        body["response_format"] = {"type": "json_object"}
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    try:
        call = parse_chat(orjson.dumps(body))
    except GatewayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    # A local server (Ollama) counts once it answers; this command calls nobody.
    local = [s for s in specs.values() if not s.probe]
    configured = {a.provider for a in env_accounts(local, settings.environ)}
    configured |= _stored_providers(settings)
    print(f"catalog: {settings.config_path}")
    print("\n".join(explain(call, catalog, specs, configured)))
    return 0


def _on_this_machine(args: argparse.Namespace) -> bool:
    """Whether the gateway asked is a local server, started from an environment like this."""
    host = httpx.URL(args.url or os.environ.get("LLM_AGG_URL") or DEFAULT_URL).host
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _local_paths() -> tuple[Path, Path | None]:
    """Where the local gateway of this environment keeps its admin key, and its log file."""
    from llm_agg.settings import Settings
    from llm_agg_local.admin_key import admin_key_path
    from llm_agg_local.logfile import log_path

    settings = Settings.from_env()
    return admin_key_path(settings), log_path(settings)


def _local_admin_key() -> str | None:
    """The key the local gateway made on its first start, if it made one."""
    try:
        return _local_paths()[0].read_text().strip() or None
    except (OSError, ValueError):
        return None


def _client(args: argparse.Namespace, admin: bool = False) -> GatewayClient:
    if not admin:
        return GatewayClient(args.url, args.api_key)
    key = args.admin_key or os.environ.get("LLM_AGG_ADMIN_KEY")
    if not key and _on_this_machine(args):
        key = _local_admin_key()
    return GatewayClient(args.url, key)


def _admin_failed(args: argparse.Namespace, exc: GatewayClientError) -> int:
    """The error of an admin command, with what to do when the admin key is the problem."""
    print(f"error: {exc}", file=sys.stderr)
    if exc.status == 401:
        where = (
            f"without them, a local gateway's own key is read from {_local_paths()[0]}"
            if _on_this_machine(args)
            else "a deployment's is the LLM_AGG_ADMIN_KEY it was deployed with"
        )
        print(
            f"error: pass the gateway's admin key with --admin-key KEY or in LLM_AGG_ADMIN_KEY "
            f"({where}).",
            file=sys.stderr,
        )
    elif exc.status == 403:
        print("error: that is a gateway key; the admin API takes the admin key.", file=sys.stderr)
    return 1


FREE_WINDOWS = ("rpm", "rpd", "tpm", "tpd")


def capacity_rows(providers: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Per provider and model: how many quotas the keys hold, and of each window the total
    and what is left now (``left/total``); a provider's shared windows on its own row."""
    rows = [("PROVIDER", "MODEL", "QUOTAS", *(w.upper() for w in FREE_WINDOWS))]

    def cells(windows: list[dict[str, Any]]) -> tuple[str, ...]:
        named = {w["name"]: w for w in windows}
        return tuple(
            f"{named[n]['left']}/{named[n]['total']}" if n in named else "-" for n in FREE_WINDOWS
        )

    for p in providers:
        quotas = f"{p['quotas']} ({p['accounts']} keys, per {p['quota_scope']})"
        if p["shared"]:
            rows.append((p["provider"], "(all models)", quotas, *cells(p["shared"])))
        for m in p["models"]:
            rows.append((p["provider"], m["model"], quotas, *cells(m["windows"])))
    return rows


def _admin_get(args: argparse.Namespace, path: str) -> Any:
    """The admin API's answer, or None once the error is printed."""
    try:
        return _client(args, admin=True).get(path)
    except GatewayClientError as exc:
        _admin_failed(args, exc)
        return None


def _free(args: argparse.Namespace) -> int:
    listing = _admin_get(args, "/admin/capacity")
    if listing is None:
        return 1
    print(f"free limits as documented on {listing.get('checked') or '?'}; left/total now")
    print(table(capacity_rows(listing["data"])))
    return 0


def _models(args: argparse.Namespace) -> int:
    if args.free:
        return _free(args)
    client = _client(args)
    try:
        listing = client.get("/v1/models")
    except GatewayClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [("PROVIDER", "MODEL", "CONTEXT", "CAPABILITIES", "FREE", "STATUS")]
    for m in listing["data"]:
        if m["id"] == "auto":
            continue
        provider = m.get("owned_by", "")
        model = m["id"].removeprefix(f"{provider}/")
        rows.append(
            (
                provider,
                model,
                str(m.get("context_window", "")),
                ",".join(m.get("capabilities", [])),
                {True: "yes", False: "no"}.get(m.get("free"), ""),
                str(m.get("status", "")),
            )
        )
    if len(rows) == 1:
        print(
            f"error: no provider is configured on {client.url}: set a "
            "provider key in the environment of `llm-agg serve` (GROQ_API_KEY, OPENROUTER_API_KEY, "
            "CEREBRAS_API_KEY…: the README's Providers table lists them all), or add an account "
            "with `llm-agg configure`.",
            file=sys.stderr,
        )
        return 1
    print(table(rows))
    return 0


def _quota_text(quota: list[dict[str, Any]], most: int = 2) -> str:
    """The ``most`` tightest windows (least left for their size): a whole list of them is
    hundreds of characters, and the tightest is the one that decides."""
    tight = sorted(quota, key=lambda q: q["left"] / q["limit"] if q["limit"] else 1.0)[:most]
    text = ", ".join(
        f"{q['scope'] + ' ' if q['scope'] != '*' else ''}{q['left']}/{q['limit']} {q['name']}"
        for q in tight
    )
    return text + (f" (+{len(quota) - most} more)" if len(quota) > most else "")


def _short(epoch: float | None) -> str:
    """Today as a time, another day as a date and time."""
    if epoch is None:
        return ""
    moment = datetime.fromtimestamp(epoch, UTC)
    same_day = moment.date() == datetime.now(UTC).date()
    return moment.strftime("%H:%M:%SZ" if same_day else "%Y-%m-%d %H:%MZ")


def fit(
    rows: list[tuple[str, ...]], width: int, shrinkable: Sequence[int]
) -> list[tuple[str, ...]]:
    """Cut the ``shrinkable`` columns (with …) until the table is at most ``width`` wide."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    over = sum(widths) + 2 * (len(widths) - 1) - width
    for i in sorted(shrinkable, key=lambda i: -widths[i]):
        if over <= 0:
            break
        keep = max(len(rows[0][i]), 12, widths[i] - over)
        over -= widths[i] - keep
        widths[i] = keep
    return [
        tuple(
            cell if i not in shrinkable or len(cell) <= widths[i] else cell[: widths[i] - 1] + "…"
            for i, cell in enumerate(row)
        )
        for row in rows
    ]


STATUS_HEADER = ("PROVIDER", "ACCOUNT", "STATE", "UNTIL", "ERRORS", "LAST ERROR", "DETAIL")


def status_rows(listing: dict[str, Any]) -> list[tuple[str, ...]]:
    """One line per account of a ``/admin/providers`` answer: its state and until when, its
    failures in a row and the last one (with when), then what is cooling down of it (one of
    its models) and its tightest quota windows."""
    rows: list[tuple[str, ...]] = [STATUS_HEADER]
    for provider in listing["data"]:
        accounts = provider.get("accounts") or []
        if not accounts:
            state = "not configured" if provider.get("supported", True) else "not supported"
            rows.append((provider["provider"], "-", state, "", "", "", ""))
        for account in accounts:
            cooling = [
                f"{c['scope']} until {_short(c['until'])} ({c['reason']})"
                for c in account.get("cooling_down", [])
                if c["scope"] != "*"
            ]
            quota = _quota_text(account.get("quota", []))
            error = account.get("last_error") or ""
            if error and account.get("last_error_at"):
                error = f"{_short(account['last_error_at'])} {error}"
            rows.append(
                (
                    provider["provider"],
                    account["account_id"],
                    account.get("state") or ("healthy" if account.get("healthy") else "?"),
                    _short(account.get("state_until")),
                    str(account.get("consecutive_errors") or ""),
                    error,
                    "; ".join([*cooling, *([quota] if quota else [])]),
                )
            )
    return rows


def _status(args: argparse.Namespace) -> int:
    listing = _admin_get(args, "/admin/providers")
    if listing is None:
        return 1
    rows = status_rows(listing)
    if sys.stdout.isatty():  # a pipe or a file gets every character
        rows = fit(rows, shutil.get_terminal_size().columns, (5, 6))
    print(table(rows))
    if _on_this_machine(args):  # a deployment logs to CloudWatch
        log_file = _local_paths()[1]
        print(f"log file: {log_file or 'none (LLM_AGG_LOG_FILE=-)'}")
    return 0


STATS_HEADER = (
    "DAY",
    "PROVIDER",
    "MODEL",
    "REQUESTS",
    "ERRORS",
    "SUCCESS",
    "PROMPT",
    "COMPLETION",
    "P50 MS",
    "P95 MS",
    "FAILOVERS",
    "ERRORS BY KIND",
)
_SUMMED = ("requests", "errors", "prompt_tokens", "completion_tokens", "failovers")


def kinds_text(kinds: dict[str, int]) -> str:
    """``rate_limited:2,server:1``, or ``-`` for none (a column split on spaces stays put)."""
    return ",".join(f"{kind}:{n}" for kind, n in sorted(kinds.items()) if n) or "-"


def success_text(requests: int, errors: int) -> str:
    """The share of attempts answered, as ``97.5%`` (``-`` with none)."""
    if not requests:
        return "-"
    return f"{100 * (requests - errors) / requests:.1f}%"


def stats_rows(stats: dict[str, Any]) -> list[tuple[str, ...]]:
    """One line per day, provider and model of a ``/admin/usage-stats`` answer (its rows are
    also per account and gateway key: summed here)."""
    sums: dict[tuple[str, str, str], list[int]] = {}
    kinds: dict[tuple[str, str, str], dict[str, int]] = {}
    for row in stats["data"]:
        key = (row["day"], row["provider"], row["model"])
        total = sums.setdefault(key, [0] * len(_SUMMED))
        for i, field in enumerate(_SUMMED):
            total[i] += int(row.get(field, 0))
        into = kinds.setdefault(key, {})
        for kind, n in (row.get("errors_by_kind") or {}).items():
            into[kind] = into.get(kind, 0) + int(n)
    models = stats.get("by", {}).get("model", {})
    rows: list[tuple[str, ...]] = [STATS_HEADER]
    for (day, provider, model), (requests, errors, prompt, completion, failovers) in sorted(
        sums.items()
    ):
        latency = models.get(f"{provider}/{model}", {})
        rows.append(
            (
                day,
                provider,
                model,
                str(requests),
                str(errors),
                success_text(requests, errors),
                str(prompt),
                str(completion),
                str(latency.get("latency_p50_ms", "")),
                str(latency.get("latency_p95_ms", "")),
                str(failovers),
                kinds_text(kinds[day, provider, model]),
            )
        )
    return rows


def _stats(args: argparse.Namespace) -> int:
    params = {k: v for k in ("start", "end", "provider") if (v := getattr(args, k))}
    try:
        stats = _client(args, admin=True).get("/admin/usage-stats", **params)
    except GatewayClientError as exc:
        return _admin_failed(args, exc)
    total = stats.get("total", {})
    print(
        f"usage from {stats['start']} to {stats['end']}: {total.get('requests', 0)} requests, "
        f"{total.get('errors', 0)} errors ({kinds_text(total.get('errors_by_kind') or {})}), "
        f"{success_text(total.get('requests', 0), total.get('errors', 0))} answered, "
        f"{total.get('failovers', 0)} served after failover"
    )
    print(table(stats_rows(stats)))
    return 0


def add_commands(sub: Any, client_options: Any) -> None:
    route = sub.add_parser("route", help="show how a message would be routed (calls nobody)")
    route.add_argument("--explain", required=True, metavar="MESSAGE", help="the user message")
    route.add_argument("--model", default="auto")
    route.add_argument("--provider")
    route.add_argument("--model-quality", choices=QUALITIES)
    route.add_argument("--system", help="a system message before it")
    route.add_argument("--tools", action="store_true", help="as if the request had tools")
    route.add_argument("--image", action="store_true", help="as if it held an image")
    route.add_argument("--json", action="store_true", help="as if it asked for JSON mode")
    route.add_argument("--max-tokens", type=int)
    route.set_defaults(func=_route, stream=False)

    def admin_options(p: argparse.ArgumentParser) -> None:
        client_options(p)
        p.add_argument(
            "--admin-key",
            help="admin key (env LLM_AGG_ADMIN_KEY; the local gateway's own key by default)",
        )

    models = sub.add_parser("models", help="list the models the gateway can route to")
    admin_options(models)
    models.add_argument(
        "--free",
        action="store_true",
        help="the free requests and tokens your keys give per minute and day, and what is left",
    )
    models.set_defaults(func=_models)

    status = sub.add_parser("status", help="providers and accounts: health, cooldowns, quota")
    admin_options(status)
    status.set_defaults(func=_status)

    stats = sub.add_parser("stats", help="usage by day, provider and model")
    admin_options(stats)
    stats.add_argument("--start", help="first day, YYYY-MM-DD (default: a week ago)")
    stats.add_argument("--end", help="last day, YYYY-MM-DD (default: today)")
    stats.add_argument("--provider")
    stats.set_defaults(func=_stats)
