"""The web page's files as the admin function serves them (locally and under Mangum on AWS):
strict headers, caching, no inline script or style, and nothing outside ``static/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llm_agg.apps.ui import CSP
from llm_agg.ui import STATIC, assets, read_assets
from tests.functional.gateway import ROOT, Handler, make_settings, serve
from tests.functional.test_admin_lambda import rest_event


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with serve(make_settings(tmp_path)) as client:
        yield client


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def page_tags() -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed((STATIC / "index.html").read_text())
    return parser.tags


def test_the_page_is_served_at_ui_with_a_strict_content_security_policy(
    client: TestClient,
) -> None:
    response = client.get("/ui")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    policy = dict(part.split(" ", 1) for part in CSP.split("; "))
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "img-src", "connect-src"):
        assert policy[directive] == "'self'"  # no 'unsafe-inline', no other origin
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert "LLM API Aggregator" in response.text


def test_the_page_has_no_inline_script_or_style() -> None:
    tags = page_tags()
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert not [tag for tag, _ in tags if tag == "style"]
    inline = [(tag, a) for tag, attrs in tags for a in attrs if a == "style" or a.startswith("on")]
    assert not inline


def test_every_file_the_page_names_is_served_with_its_type(client: TestClient) -> None:
    named = [a.get("src") or a.get("href") for _, a in page_tags() if a.get("src") or a.get("href")]
    files = [name for name in named if name and name.startswith("ui/static/")]
    assert len(files) >= 6
    for name in files:
        response = client.get("/" + name)
        assert response.status_code == 200, name
        assert response.headers["content-security-policy"] == CSP
    scripts = list((STATIC / "js").glob("*.js"))
    imported = {m for f in scripts for m in re.findall(r'from "\./([\w.]+)"', f.read_text())}
    assert imported <= {f.name for f in scripts}
    for module in scripts:
        response = client.get(f"/ui/static/js/{module.name}")
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"


def test_files_are_revalidated_by_etag_and_vendored_ones_cached_for_good(
    client: TestClient,
) -> None:
    first = client.get("/ui/static/js/main.js")
    etag = first.headers["etag"]
    again = client.get("/ui/static/js/main.js", headers={"if-none-match": etag})
    assert (again.status_code, again.content) == (304, b"")
    vendored = client.get("/ui/static/vendor/marked-18.2.1/marked.umd.js")
    assert vendored.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_nothing_outside_the_static_files_is_served(client: TestClient) -> None:
    for path in (
        "/ui/static/../../settings.py",
        "/ui/static/%2e%2e/__init__.py",
        "/ui/static/vendor/marked-18.2.1/LICENSE",
        "/ui/static/missing.js",
        "/ui/static/",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_ui_with_a_slash_goes_to_the_page_relative_to_any_prefix(client: TestClient) -> None:
    response = client.get("/ui/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (308, "../ui")


def test_the_root_redirects_to_the_page(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/ui")
    assert client.get("/").headers["content-type"] == "text/html; charset=utf-8"


def test_the_root_of_a_stage_redirects_to_the_stages_page(admin_lambda: Handler) -> None:
    answer = admin_lambda(rest_event("GET", "/", {"host": "x"}), None)
    assert (answer["statusCode"], answer["headers"]["location"]) == (307, "/prod/ui")


def test_the_local_server_compresses_the_page(client: TestClient) -> None:
    response = client.get("/ui/static/js/chat.js", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.content) > 1000  # httpx decoded it


def test_only_known_types_are_read_and_vendor_files_are_immutable(tmp_path: Path) -> None:
    (tmp_path / "vendor" / "lib-1.0").mkdir(parents=True)
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "vendor" / "lib-1.0" / "lib.js").write_text("1")
    (tmp_path / "vendor" / "lib-1.0" / "LICENSE").write_text("MIT")
    (tmp_path / "notes.md").write_text("#")
    found = read_assets(tmp_path)
    assert sorted(found) == ["index.html", "vendor/lib-1.0/lib.js"]
    assert found["vendor/lib-1.0/lib.js"].immutable and not found["index.html"].immutable
    assert "index.html" in assets()


def test_the_admin_lambda_serves_the_page_as_text(admin_lambda: Handler) -> None:
    headers = {"host": "x", "accept-encoding": "gzip"}
    page = admin_lambda(rest_event("GET", "/ui", headers), None)
    script = admin_lambda(rest_event("GET", "/ui/static/js/main.js", headers), None)
    icon = admin_lambda(rest_event("GET", "/ui/static/icon.svg", headers), None)
    assert page["statusCode"] == 200 and page["isBase64Encoded"] is False
    assert page["headers"]["content-security-policy"] == CSP
    assert "ui/static/js/main.js" in page["body"]
    # Never compressed by the function: API Gateway would pass gzip on base64-encoded.
    assert "content-encoding" not in script["headers"] and script["isBase64Encoded"] is False
    assert script["body"] == (STATIC / "js/main.js").read_text()
    assert icon["isBase64Encoded"] is False and icon["body"].startswith("<svg")


def test_the_page_ships_in_the_wheel_and_the_layer(tmp_path: Path) -> None:
    """hatch's wheel takes every file of the package (the layer's SAM build copies the whole
    folder): the page's files are there, not only the Python modules."""
    from hatchling.builders.wheel import WheelBuilder

    builder = WheelBuilder(str(ROOT))
    shipped = {f.distribution_path for f in builder.recurse_included_files()}
    for name in ("index.html", "app.css", "js/main.js", "vendor/marked-18.2.1/marked.umd.js"):
        assert f"llm_agg/ui/static/{name}" in shipped
