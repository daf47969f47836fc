"""``/admin/*``: provider credentials, gateway keys, provider status, routing and usage
statistics; the web page at ``/ui`` that shows them, and the API's description at
``/openapi.json``.

Every ``/admin`` route needs the admin key. Store and KMS calls run in threads; a failing store
is a 503.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from llm_agg.admin import views
from llm_agg.admin.accounts import account_states, add_account, check_account, groups_quota
from llm_agg.admin.capacity import capacity
from llm_agg.admin.models import CredentialIn, CredentialPatch, KeyIn
from llm_agg.admin.routing import routing
from llm_agg.api.errors import GatewayError, InvalidRequest, NotFound
from llm_agg.api.validation import parse_body
from llm_agg.apps.auth import admin_auth, store_unavailable
from llm_agg.apps.base import EXCEPTION_HANDLERS, closing, read_body
from llm_agg.apps.ui import ui_router
from llm_agg.crypto.envelope import KeyringError
from llm_agg.limits.windows import Limit, counter_key
from llm_agg.openapi import openapi_json
from llm_agg.providers.spec import ProviderSpec
from llm_agg.runtime import Runtime
from llm_agg.store.base import StoreError

T = TypeVar("T")
DAY = 86_400
MAX_DAYS = 366
ADMIN_BODY_BYTES = 64 * 1024  # an account or a key: a few hundred bytes; 20 headers of 1 KiB
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _call(fn: Callable[..., T], *args: object) -> T:
    """A blocking store or keyring call, in a thread; their failures become a 503."""
    try:
        return await asyncio.to_thread(fn, *args)
    except StoreError:
        raise store_unavailable() from None
    except KeyringError as exc:
        raise _keyring_failed(exc) from None


def _keyring_failed(exc: KeyringError) -> GatewayError:
    return GatewayError(f"The key service failed: {exc}", status=503, code="keyring_unavailable")


def _spec(runtime: Runtime, provider: str, status: int = 400) -> ProviderSpec:
    spec = runtime.specs.get(provider)
    if spec is None:
        known = ", ".join(sorted(runtime.specs))
        error = NotFound if status == 404 else InvalidRequest
        raise error(f"Unknown provider {provider!r}; known: {known}.", param="provider")
    return spec


def _not_env(spec: ProviderSpec, account_id: str) -> None:
    if account_id == "env":
        raise InvalidRequest(
            f"The 'env' account of {spec.name} comes from {spec.setup_hint}; "
            "change that variable instead.",
            param="account_id",
        )


def _day(text: str | None, default: date, name: str) -> date:
    if text is None:
        return default
    try:
        if not _DATE.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a date as YYYY-MM-DD.", param=name) from None


def create_admin_app(runtime: Runtime) -> FastAPI:
    """FastAPI, unlike the other apps (``apps/base.py``): its routes take typed parameters.
    No generated docs (``/openapi.json`` is ours) and no trailing-slash redirects (their
    Location would echo a forged Host)."""
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        lifespan=closing(runtime),
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.runtime = runtime
    admin = APIRouter(prefix="/admin", dependencies=[Depends(admin_auth(runtime))])

    @admin.post("/credentials")
    async def add_credential(request: Request) -> Response:
        body = parse_body(await read_body(request, ADMIN_BODY_BYTES), CredentialIn)
        _spec(runtime, body.provider)
        await runtime.stored.open()
        try:
            added = await add_account(runtime, body)
        except StoreError:
            raise store_unavailable() from None
        except KeyringError as exc:
            raise _keyring_failed(exc) from None
        result = {
            **views.credential(added.state),
            "replaced": added.replaced,
            "verification": added.verdict.to_dict() if added.verdict else None,
        }
        return _json(result, 200 if added.replaced else 201)

    @admin.get("/credentials")
    async def list_credentials(provider: str | None = None) -> Response:
        if provider is not None:
            _spec(runtime, provider, 404)
        await runtime.stored.open()
        states = await _call(account_states, runtime, provider)
        return _json({"object": "list", "data": [views.credential(s) for s in states]})

    @admin.delete("/credentials/{provider}/{account_id}")
    async def delete_credential(provider: str, account_id: str) -> Response:
        _not_env(_spec(runtime, provider, 404), account_id)
        await runtime.stored.open()
        if not await _call(runtime.stored.vault.delete, provider, account_id):
            raise NotFound(f"No stored account {account_id!r} for {provider}.")
        return _json(
            {
                "object": "credential",
                "provider": provider,
                "account_id": account_id,
                "deleted": True,
            }
        )

    @admin.patch("/credentials/{provider}/{account_id}")
    async def update_credential(provider: str, account_id: str, request: Request) -> Response:
        _not_env(_spec(runtime, provider, 404), account_id)
        body = parse_body(await read_body(request, ADMIN_BODY_BYTES), CredentialPatch)
        if body.quota_group is not None:
            groups_quota(runtime.specs[provider])
        await runtime.stored.open()
        vault = runtime.stored.vault
        found = True
        if body.enabled is not None:
            found = await _call(vault.set_enabled, provider, account_id, body.enabled)
        if found and "quota_group" in body.model_fields_set:
            found = await _call(vault.set_quota_group, provider, account_id, body.quota_group)
        if not found:
            raise NotFound(f"No stored account {account_id!r} for {provider}.")
        (state,) = await _call(account_states, runtime, provider, account_id)
        return _json(views.credential(state))

    @admin.post("/credentials/{provider}/{account_id}/check")
    async def check_credential(provider: str, account_id: str) -> Response:
        _spec(runtime, provider, 404)
        await runtime.stored.open()
        try:
            verdict = await check_account(runtime, provider, account_id)
        except StoreError:
            raise store_unavailable() from None
        except KeyringError as exc:
            raise _keyring_failed(exc) from None
        if verdict is None:
            raise NotFound(f"No account {account_id!r} for {provider}.")
        return _json(
            {
                "object": "credential_check",
                "provider": provider,
                "account_id": account_id,
                **verdict.to_dict(),
            }
        )

    @admin.get("/capacity")
    async def free_capacity(request: Request) -> Response:
        await runtime.stored.refresh()
        accounts = runtime.accounts()
        quota = runtime.quota
        every = request.query_params.get("all") in ("1", "true")

        def used(provider: str, holder: str, limit: Limit, index: int) -> int:
            return quota.counters.get(counter_key(provider, holder, limit, index))

        data = await _call(
            capacity,
            runtime.specs,
            runtime.view.models,
            accounts,
            quota.limits,
            used,
            runtime.clock(),
            not every,
        )
        return _json({"object": "list", "checked": runtime.catalog.checked, "data": data})

    @admin.get("/providers")
    async def provider_status() -> Response:
        await runtime.stored.open()
        # What every worker and Lambda stored (cooldowns, circuits, refused keys), not only
        # what this process saw: the admin function may never route a request itself.
        await _call(runtime.quota.refresh)
        today = datetime.now(UTC).date().isoformat()
        states = await _call(account_states, runtime)
        rows = await _call(runtime.stored.stores.usage.query, today, today)
        requests_today: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row.provider, row.account_id)
            requests_today[key] = requests_today.get(key, 0) + row.requests
        known = {
            (s.provider, s.account_id): await _call(
                runtime.router.state, s.provider, s.account_id, s.quota_group
            )
            for s in states
        }
        cooling = {key: until for key, (until, _) in known.items() if until is not None}
        router = {key: state for key, (_, state) in known.items()}
        data = views.providers(
            runtime.specs,
            {name: name in runtime.adapters for name in runtime.specs},
            states,
            cooling,
            requests_today,
            router,
            runtime.clock(),
        )
        return _json({"object": "list", "data": data})

    @admin.get("/routing")
    async def routing_in_effect() -> Response:
        await runtime.stored.refresh()
        accounts = runtime.accounts()
        return _json(
            routing(
                runtime.view,
                runtime.specs,
                accounts.keys(),
                lambda p, m: runtime.router.signals(p, m, accounts.get(p, [])),
            )
        )

    @admin.get("/usage-stats")
    async def usage_stats(
        start: str | None = None, end: str | None = None, provider: str | None = None
    ) -> Response:
        if provider is not None:
            _spec(runtime, provider, 404)
        last = _day(end, datetime.now(UTC).date(), "end")
        first = _day(start, last - timedelta(days=6), "start")
        if first > last:
            raise InvalidRequest("'start' is after 'end'.", param="start")
        if (last - first).days >= MAX_DAYS:
            raise InvalidRequest(f"At most {MAX_DAYS} days at once.", param="start")
        await runtime.stored.open()
        rows = await _call(
            runtime.stored.stores.usage.query, first.isoformat(), last.isoformat(), provider
        )
        return _json(
            {
                "object": "usage_stats",
                "start": first.isoformat(),
                "end": last.isoformat(),
                "provider": provider,
                **views.usage(rows),
            }
        )

    @admin.post("/keys")
    async def create_key(request: Request) -> Response:
        body = parse_body(await read_body(request, ADMIN_BODY_BYTES), KeyIn)
        stored = runtime.stored
        now = stored.clock()
        expires_at: float | None = body.expires_at
        if body.expires_in_days is not None:
            expires_at = now + body.expires_in_days * DAY
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest("'expires_at' is in the past.", param="expires_at")
        await stored.open()
        new = await _call(
            stored.keys.create,
            body.name,
            expires_at,
            body.requests_per_minute,
            body.tokens_per_day,
        )
        shown = {
            **views.gateway_key(new.record, now),
            "key": new.key,
            "note": "Keep this key now: it is stored only as a hash and cannot be shown again.",
        }
        return _json(shown, 201)

    @admin.get("/keys")
    async def list_keys() -> Response:
        stored = runtime.stored
        await stored.open()
        records = await _call(stored.keys.list)
        now = stored.clock()
        return _json({"object": "list", "data": [views.gateway_key(r, now) for r in records]})

    @admin.delete("/keys/{key_id}")
    async def delete_key(key_id: str) -> Response:
        stored = runtime.stored
        await stored.open()
        if not await _call(stored.keys.delete, key_id):
            raise NotFound(f"No gateway key {key_id!r}.")
        return _json({"object": "gateway_key", "id": key_id, "deleted": True})

    app.include_router(admin)
    app.include_router(ui_router())

    @app.get("/openapi.json")
    async def openapi() -> Response:
        # Public, as the page is: it describes the API, it holds nothing of this deployment.
        return Response(openapi_json(), media_type="application/json")

    return app
