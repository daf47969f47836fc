"""Who is calling: a gateway key on ``/v1``, the admin key on ``/admin``.

A ``/v1`` request needs a gateway key (``Authorization: Bearer`` or ``x-api-key``) unless the
server is a local one bound only to loopback
(``Settings.require_auth`` false); a key that is sent is checked either way, so a wrong key is
never silently ignored. The key id goes on ``request.state.gateway_key_id`` ("-" for none) for
usage records, with the record itself on ``request.state.gateway_key``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from llm_agg.api.errors import GatewayError, PermissionDenied, RateLimited, Unauthenticated
from llm_agg.apps.base import header, two_headers
from llm_agg.gateway_keys import MISS, PREFIX, hash_key
from llm_agg.limits import admin_failures
from llm_agg.limits.keys import admit
from llm_agg.runtime import Runtime
from llm_agg.store.base import GatewayKeyRecord, StoreError
from llm_agg.store.nowait import counting
from llm_agg.stored import Stored

log = logging.getLogger("llm_agg.auth")

ANONYMOUS = "-"
MIN_ADMIN_KEY = 32
ADMIN_KEY_ON_V1 = (
    "That is the gateway's admin key, which opens /admin only: /v1 takes a gateway key "
    "('Authorization: Bearer sk-llmagg-…', made with POST /admin/keys)."
)


@dataclass(frozen=True, slots=True)
class Client:
    key_id: str
    record: GatewayKeyRecord | None = None


NOBODY = Client(ANONYMOUS)  # frozen: one for every request that brings no gateway key


def bearer(request: Request) -> str | None:
    return _bearer(header(request, b"authorization"))


def _bearer(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def gateway_key(request: Request) -> str | None:
    """A ``/v1`` caller's key: ``Authorization: Bearer``, or ``x-api-key`` as Anthropic's
    clients send it (Claude Code's ``ANTHROPIC_API_KEY``); the first of each header. Both read
    in one pass over the headers (on every request)."""
    authorization, api_key = two_headers(request, b"authorization", b"x-api-key")
    if authorization is not None:
        key = _bearer(authorization.decode("latin-1"))
        if key is not None:
            return key
    return (api_key.decode("latin-1").strip() or None) if api_key is not None else None


def store_unavailable() -> GatewayError:
    return GatewayError(
        "The gateway's store is unavailable; try again shortly.",
        status=503,
        code="store_unavailable",
    )


async def find_key(stored: Stored, key: str) -> GatewayKeyRecord | None:
    """The live record of gateway key ``key``, from the cache when it is warm."""
    if not key.startswith(PREFIX):
        return None
    key_hash = hash_key(key)
    try:
        await stored.open()
        cached = stored.keys.peek(key_hash)
        if cached is MISS:
            return await asyncio.to_thread(stored.keys.lookup, key_hash)
    except StoreError:
        raise store_unavailable() from None
    return cached if isinstance(cached, GatewayKeyRecord) else None


async def identify(stored: Stored, key: str | None, required: bool) -> Client:
    if key is None:
        if required:
            raise Unauthenticated(
                "This gateway needs a key: send 'Authorization: Bearer sk-llmagg-…' "
                "(or 'x-api-key: sk-llmagg-…')."
            )
        return NOBODY
    record = await find_key(stored, key)
    if record is not None:
        return Client(record.key_id, record)
    if required or key.startswith(PREFIX):
        raise Unauthenticated("The gateway key is not valid (unknown, deleted or expired).")
    return NOBODY  # an open local server: the SDKs' placeholder keys are fine


Authenticate = Callable[[Request], Awaitable[Client]]


def client_auth(runtime: Runtime) -> Authenticate:
    """The dependency of every ``/v1`` route: who calls, and whether their key may now."""
    settings, stored = runtime.settings, runtime.stored
    required = settings.require_auth
    admin = digest(settings.admin_key) if settings.admin_key else None

    async def authenticate(request: Request) -> Client:
        key = gateway_key(request)
        if not required and (key is None or not key.startswith(PREFIX)):
            client = NOBODY  # what identify() answers, without its two coroutines
        else:
            try:
                client = await identify(stored, key, required)
            except Unauthenticated:
                if key is not None and admin is not None and _same(key, admin):
                    raise Unauthenticated(ADMIN_KEY_ON_V1) from None
                raise
        # Into the request's state (what ``request.state`` reads and writes), without making
        # the State object for two writes (2 µs a request).
        state = request.scope.setdefault("state", {})
        state["gateway_key_id"] = client.key_id
        state["gateway_key"] = client.record
        record = client.record
        if record is not None and (record.requests_per_minute or record.tokens_per_day):
            try:
                now = stored.clock()
                await counting(
                    stored.stores.counters, lambda counters: admit(counters, record, now)
                )
            except StoreError:
                raise store_unavailable() from None
        return client

    return authenticate


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _same(key: str, expected: bytes) -> bool:
    """Whether ``key``'s digest is ``expected``, in constant time."""
    return hmac.compare_digest(digest(key), expected)


def admin_key_problem(key: str | None) -> str | None:
    """Why ``key`` may not be this gateway's admin key, or None."""
    if key is None:
        return "no admin key is configured (LLM_AGG_ADMIN_KEY)"
    if len(key) < MIN_ADMIN_KEY:
        # A short key is guessable; refused everywhere, not just where it was typed.
        return f"the admin key is shorter than {MIN_ADMIN_KEY} characters (LLM_AGG_ADMIN_KEY)"
    return None


async def _throttle(stored: Stored, step: Callable[..., bool | None], *args: object) -> bool:
    """One step of the admin-key throttle; a failing store skips it (the key still decides)."""
    try:
        counters = (await stored.open()).stores.counters
        return bool(await asyncio.to_thread(step, counters, *args))
    except StoreError as exc:
        log.warning("admin-key throttle skipped: %s", type(exc).__name__)
        return False


def admin_auth(runtime: Runtime) -> Callable[[Request], Awaitable[None]]:
    """The dependency of every ``/admin`` route. Compared in constant time (digests of equal
    length, so not even the key's length leaks); repeated failures from one client address
    are slowed down (``limits.admin_failures``)."""
    settings, stored = runtime.settings, runtime.stored
    problem = admin_key_problem(settings.admin_key)
    expected = digest(settings.admin_key) if settings.admin_key and not problem else None

    async def require_admin(request: Request) -> None:
        if expected is None:
            raise GatewayError(
                f"The admin API is off: {problem}.", status=503, code="admin_disabled"
            )
        key = bearer(request)
        if key is None:
            raise Unauthenticated("The admin API needs 'Authorization: Bearer <admin key>'.")
        client = request.client.host if request.client else "-"
        if await _throttle(stored, admin_failures.blocked, client):
            raise RateLimited(
                "Too many wrong admin keys from this address; retry in a minute.",
                headers={"retry-after": str(int(admin_failures.WINDOW))},
            )
        if hmac.compare_digest(digest(key), expected):
            return
        await _throttle(stored, admin_failures.failed, client, stored.clock())
        if await find_key(stored, key) is not None:
            raise PermissionDenied("A gateway key may not use the admin API.")
        raise Unauthenticated("The admin key is not valid.")

    return require_admin
