"""Reading a request's body and headers: bounded, whole, and as Starlette's own reading says."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from llm_agg.api.errors import GatewayError
from llm_agg.apps.base import header, read_json_body

JSON = (b"content-type", b"application/json")


def request(messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]) -> Request:
    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


def part(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def read(messages: list[dict[str, Any]], limit: int = 100, *extra: tuple[bytes, bytes]) -> bytes:
    return asyncio.run(read_json_body(request(messages, [JSON, *extra]), limit))


def test_a_body_is_read_whole_in_one_piece_or_many() -> None:
    assert read([part(b'{"a": 1}', False)]) == b'{"a": 1}'
    pieces = [part(b'{"a"', True), part(b"", True), part(b": 1}", True), part(b"", False)]
    assert read(pieces) == b'{"a": 1}'
    assert read([part(b"", False)]) == b""


def test_a_body_past_its_bound_is_413_declared_or_not() -> None:
    with pytest.raises(GatewayError) as declared:
        read([part(b"{}", False)], 10, (b"content-length", b"11"))
    with pytest.raises(GatewayError) as chunked:
        read([part(b"x" * 6, True), part(b"x" * 5, False)], 10)
    assert declared.value.status == chunked.value.status == 413
    assert read([part(b"x" * 5, True), part(b"x" * 5, False)], 10) == b"x" * 10


def test_a_client_gone_before_its_body_arrived_is_408() -> None:
    with pytest.raises(GatewayError) as gone:
        read([part(b"{", True), {"type": "http.disconnect"}])
    assert gone.value.status == 408


@pytest.mark.parametrize(
    "media", [b"text/plain", b"application/x-www-form-urlencoded", b"application/jsonp", b""]
)
def test_a_body_that_is_not_json_is_415(media: bytes) -> None:
    with pytest.raises(GatewayError) as refused:
        asyncio.run(read_json_body(request([part(b"{}", False)], [(b"content-type", media)]), 9))
    assert refused.value.status == 415


def test_json_with_parameters_or_in_capitals_is_json() -> None:
    typed = request([part(b"{}", False)], [(b"content-type", b"Application/JSON; charset=utf-8")])
    assert asyncio.run(read_json_body(typed, 9)) == b"{}"


def test_a_header_is_what_starlette_reads_first_and_absent_is_empty() -> None:
    raw = [(b"x-api-key", b"first"), (b"x-api-key", b"second"), (b"x-caf\xe9", b"caf\xe9")]
    seen = Request({"type": "http", "headers": raw})
    for name in ("x-api-key", "x-caf\xe9", "authorization"):
        assert header(seen, name.encode("latin-1")) == seen.headers.get(name, "")
    assert header(seen, b"x-api-key") == "first"
