"""``GET /ui``: the web page (chat, dashboard, settings, analytics), served by the admin function.

The page is public (it holds no secret: every call it makes carries the key its user types) and
strict: one Content-Security-Policy allows scripts, styles, images and requests from this
origin only, with no inline script or style, so even a reply that slipped past the sanitizer
could not run code or send data elsewhere.

Links in the page are relative (``ui/static/...``) and ``/ui/`` redirects to ``../ui``, so it
works under a path prefix too (an API Gateway stage: ``/prod/ui``). ``/`` redirects to the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from llm_agg.api.errors import NotFound
from llm_agg.ui import Asset, assets

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
INDEX = "index.html"


def _serve(asset: Asset, request: Request) -> Response:
    cache = "public, max-age=31536000, immutable" if asset.immutable else "no-cache"
    headers = {**SECURITY_HEADERS, "cache-control": cache, "etag": asset.etag}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _page_url(request: Request) -> str:
    """``/ui`` under the path the client asked for ``/`` by: behind API Gateway, the stage
    (``/prod/``) or a custom domain's base path, which the request's own path leaves out."""
    event = request.scope.get("aws.event") or {}
    seen = (event.get("requestContext") or {}).get("path") or request.scope.get("root_path", "")
    return str(seen).rstrip("/") + "/ui"


def ui_router() -> APIRouter:
    router = APIRouter()

    @router.get("/")
    async def root(request: Request) -> Response:
        return RedirectResponse(_page_url(request), status_code=307)

    @router.get("/ui")
    async def page(request: Request) -> Response:
        return _serve(assets()[INDEX], request)

    @router.get("/ui/")
    async def page_slash() -> Response:
        return RedirectResponse("../ui", status_code=308)

    @router.get("/ui/static/{name:path}")
    async def static_file(name: str, request: Request) -> Response:
        asset = assets().get(name)
        if asset is None:
            raise NotFound(f"No file {name!r} in the web page.")
        return _serve(asset, request)

    return router
