"""Which key a ``/v1`` request brings (``auth.gateway_key``, read in one pass over its headers):
the first ``Authorization: Bearer`` one, else the first ``x-api-key``, as reading each header
on its own answers (``header``, the first of a name)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from llm_agg.apps.auth import bearer, gateway_key
from llm_agg.apps.base import header

HEADERS = [
    [],
    [(b"authorization", b"Bearer sk-llmagg-one")],
    [(b"authorization", b"bearer  sk-llmagg-one  ")],
    [(b"authorization", b"Basic dXNlcjpwYXNz"), (b"x-api-key", b"sk-llmagg-two")],
    [(b"authorization", b"Bearer "), (b"x-api-key", b" sk-llmagg-two ")],
    [(b"x-api-key", b"sk-llmagg-two"), (b"authorization", b"Bearer sk-llmagg-one")],
    [(b"x-api-key", b"   ")],
    [(b"x-api-key", b""), (b"x-api-key", b"sk-llmagg-late")],
    [(b"authorization", b"Basic x"), (b"authorization", b"Bearer sk-llmagg-late")],
    [(b"authorization", b"Bearer sk-llmagg-first"), (b"authorization", b"Bearer other")],
    [(b"host", b"127.0.0.1:8000"), (b"x-api-key", b"sk-caf\xe9")],
]


@pytest.mark.parametrize("headers", HEADERS)
def test_the_key_is_the_first_bearer_else_the_first_x_api_key(
    headers: list[tuple[bytes, bytes]],
) -> None:
    request = Request({"type": "http", "headers": headers})
    one_by_one = bearer(request) or header(request, b"x-api-key").strip() or None
    assert gateway_key(request) == one_by_one
