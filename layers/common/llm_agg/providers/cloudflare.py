"""Cloudflare Workers AI: OpenAI's format under the account's own URL
(``/client/v4/accounts/{account_id}/ai/v1``), with an API token; model ids look like
``@cf/meta/llama-3.1-8b-instruct``. Free: 10,000 "neurons" a day per account
(developers.cloudflare.com/workers-ai/platform/pricing, checked 2026-12-06), a unit the
gateway cannot count, so its 429s are what tell.

Models are listed by ``GET /ai/models/search`` (Cloudflare's v4 envelope ``{success, result,
errors}``), whose errors come in the same envelope: ``{"errors": [{"code", "message"}]}``.
"""

from __future__ import annotations

from typing import Any

from llm_agg.providers.envelopes import classify_with
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.model_lists import load_models
from llm_agg.providers.spec import ProviderSpec


def _v4_error(data: Any) -> tuple[str, str | None] | None:
    """Cloudflare's v4 envelope: ``{"success": false, "errors": [{"code", "message"}]}``."""
    first = data["errors"][0] if isinstance(data, dict) and data.get("errors") else None
    if not isinstance(first, dict) or not isinstance(first.get("message"), str):
        return None
    code = first.get("code")
    return first["message"], None if code is None else str(code)


def _properties(item: dict[str, Any]) -> dict[str, Any]:
    rows = item.get("properties") or []
    return {
        row["property_id"]: row.get("value")
        for row in rows
        if isinstance(row, dict) and isinstance(row.get("property_id"), str)
    }


def parse_models(body: bytes) -> list[ListedModel]:
    """``{result: [{name: "@cf/...", task: {name: "Text Generation"}, properties: [...]}]}``."""
    models = []
    for item in load_models(body, "result", id_key="name"):
        props = _properties(item)
        context = str(props.get("context_window") or "")
        caps = {"tools"} if str(props.get("function_calling")).lower() == "true" else set()
        models.append(
            ListedModel(
                id=item["name"],
                context=int(context) if context.isdigit() else None,
                free=True,
                chat=(item.get("task") or {}).get("name") == "Text Generation",
                capabilities=frozenset(caps),
            )
        )
    return models


SPEC = ProviderSpec(
    name="cloudflare",
    base_url="https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
    url_vars={"account_id": "CLOUDFLARE_ACCOUNT_ID"},
    errors=classify_with(_v4_error),
    parse_models=parse_models,
    models_path="../models/search?task=Text%20Generation&per_page=1000",
    quota_scope="account",  # its neurons count per Cloudflare account
)
