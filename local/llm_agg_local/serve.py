"""``llm-agg serve``: the whole gateway in one uvicorn (one or more worker processes).

A server bound to anything but loopback always requires gateway keys (``--require-auth`` is
implied there, and said so at start): it never serves an open relay for the stored keys.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import socket
import sys

from llm_agg.settings import Settings
from llm_agg_local import logfile
from llm_agg_local.admin_key import ensure_admin_key

HTTP_PROTOCOL = "llm_agg_local.http_limits:LimitedHttpToolsProtocol"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _check_config() -> tuple[str | None, str | None]:
    """What is wrong with the catalog or the agent's settings, said before serving rather than
    on the first request; and a warning when the agent's file tools are unrestricted."""
    from llm_agg.agent.config import AgentConfig, unrestricted_warning
    from llm_agg.apps.auth import admin_key_problem
    from llm_agg.providers.registry import build_registry
    from llm_agg.routing.catalog import CatalogError, load_catalog
    from llm_agg_local.hosts import HostPolicy
    from llm_agg_local.http_limits import HttpLimits

    try:
        settings = Settings.from_env()
        build_registry(load_catalog(settings.config_path).providers, settings.environ)
        agent = AgentConfig.from_env(settings.environ, keyed=settings.require_auth)
        HostPolicy.from_env(settings.require_auth, settings.environ)
        HttpLimits.from_env(settings.environ)
        if settings.admin_key and (short := admin_key_problem(settings.admin_key)):
            raise ValueError(short)
    except (CatalogError, ValueError) as exc:
        return str(exc), None
    return None, unrestricted_warning(agent)


def port_problem(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on ``host:port``, found before "serving on" is printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses it
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}: {exc.strerror}"
    for af, kind, proto, _, address in infos:
        with socket.socket(af, kind, proto) as probe:
            # As uvicorn binds: a port held only by connections closing (TIME_WAIT) is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return (
                        f"port {port} on {host} is already in use (another `llm-agg serve`?); "
                        "stop it, or choose another port with --port"
                    )
                return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from llm_agg_local.accept import shared_table

    if args.store == "moto" and args.workers > 1:
        print("error: --store moto keeps its data in one process: use --workers 1", file=sys.stderr)
        return 2
    # Workers are separate processes: settings travel through the environment.
    os.environ["LLM_AGG_STORE"] = args.store
    require_auth = args.require_auth or not is_loopback(args.host)
    if require_auth:
        os.environ["LLM_AGG_REQUIRE_AUTH"] = "1"
    log_file = logfile.log_path(Settings.from_env())
    problem, warning = _check_config()
    problem = (
        problem
        or (log_file and logfile.open_problem(log_file))
        or port_problem(args.host, args.port)
    )
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    # Made (and shown) once here, before the workers start and read it from the data dir.
    ensure_admin_key(Settings.from_env(), lambda text: print(text, flush=True))
    auth = "gateway key required" if require_auth else "open to this machine only"
    if require_auth and not args.require_auth:
        auth += f" (implied: {args.host} is not a loopback address)"
    print(
        f"llm-agg serving on http://{args.host}:{args.port} (store: {args.store}; {auth})",
        flush=True,
    )
    print(f"llm-agg log file: {log_file or 'none (LLM_AGG_LOG_FILE=-)'}", flush=True)
    # uvicorn applies this in every worker process; our loggers share its handlers.
    log_config = logfile.uvicorn_log_config(uvicorn.config.LOGGING_CONFIG, args.log_level, log_file)
    with shared_table(args.workers):  # how the workers spread connections (accept.py)
        uvicorn.run(
            "llm_agg_local.server:create_served_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            loop="llm_agg_local.accept:new_event_loop",  # uvloop; workers share connections
            http=HTTP_PROTOCOL,  # httptools, with bounds on head size and read times
            interface="asgi3",  # the Host guard's call returns its awaitable (hosts.HostGuard)
            # The Host guard reads X-Forwarded-* itself, as this middleware would (forwarded.py).
            proxy_headers=False,
            log_level=args.log_level,
            log_config=log_config,
            access_log=False,
        )
    return 0
