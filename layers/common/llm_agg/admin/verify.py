"""A live check of a provider key: one request to the provider's models endpoint.

The verdict is ``ok`` True (the key works, even if rate-limited right now), False (the provider
refused it) or None (no verdict: the provider could not be reached or failed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from llm_agg.api.wire import check_headers
from llm_agg.providers.failures import error_fields
from llm_agg.providers.kinds import lister_for
from llm_agg.providers.scrub import scrub, secret_values
from llm_agg.providers.spec import ProviderSpec

CHECK_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool | None
    message: str
    status: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "status": self.status, "message": self.message}


def models_request(
    spec: ProviderSpec, api_key: str, extra: Mapping[str, str]
) -> tuple[str, dict[str, str]]:
    """URL and headers of the provider's model listing: the request discovery sends."""
    request = lister_for(spec).models_request(spec, api_key)
    return request.url, {**request.headers, **extra}


def _detail(response: httpx.Response, secrets: tuple[str, ...]) -> str:
    message = error_fields(response.content)[0] or response.reason_phrase or ""
    return scrub(message, secrets)[:200]


async def check_key(
    client: httpx.AsyncClient,
    spec: ProviderSpec,
    api_key: str,
    extra_headers: Mapping[str, str] | None = None,
) -> Verdict:
    url, headers = models_request(spec, api_key, extra_headers or {})
    secrets = secret_values(api_key, extra_headers or {})
    try:
        check_headers(headers)
        request = client.build_request("GET", url, headers=headers, timeout=CHECK_TIMEOUT)
    except (ValueError, TypeError):  # stored before values were checked at the edge
        return Verdict(False, "the account's key or headers cannot be sent (not printable ASCII)")
    try:
        response = await client.send(request)
    except httpx.TimeoutException:
        return Verdict(None, f"{spec.name} did not answer within {CHECK_TIMEOUT:g}s")
    except httpx.HTTPError as exc:
        return Verdict(None, f"{spec.name} could not be reached ({type(exc).__name__})")
    status = response.status_code
    if status < 300:
        return Verdict(True, f"{spec.name} accepted the key", status)
    if status == 429:
        return Verdict(True, f"{spec.name} accepted the key (rate-limited right now)", status)
    if status in (401, 403):
        return Verdict(False, f"{spec.name} refused the key: {_detail(response, secrets)}", status)
    return Verdict(
        None, f"{spec.name} answered HTTP {status}: {_detail(response, secrets)}", status
    )
