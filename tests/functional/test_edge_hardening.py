"""Small edges a hostile client pokes at: admin bodies are bounded, and no redirect is built
from the Host header."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.gateway import ADMIN, assert_openai_error, make_settings, serve


def test_an_admin_body_past_its_bound_is_413(tmp_path: Path) -> None:
    big = b'{"name": "' + b"x" * (100 * 1024) + b'"}'
    with serve(make_settings(tmp_path)) as client:
        declared = client.post("/admin/keys", content=big, headers=ADMIN)
        chunked = client.post(
            "/admin/keys", content=iter([big[:50_000], big[50_000:]]), headers=ADMIN
        )
        listed = client.get("/admin/keys", headers=ADMIN).json()
    assert_openai_error(declared, 413)
    assert_openai_error(chunked, 413)
    assert listed["data"] == []


@pytest.mark.parametrize("path", ["/v1/models/", "/admin/keys/", "/health/"])
def test_a_trailing_slash_is_a_404_never_a_redirect_to_the_host_sent(
    tmp_path: Path, path: str
) -> None:
    with serve(make_settings(tmp_path)) as client:
        response = client.get(
            path, headers={**ADMIN, "host": "evil.example"}, follow_redirects=False
        )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_the_pages_own_slash_redirect_stays_relative(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path)) as client:
        response = client.get("/ui/", headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "../ui"
