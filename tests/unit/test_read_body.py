"""Reading a request's body and headers: bounded, whole, and as Starlette's own reading says."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request

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


@pytest.mark.parametrize(
    "messages",
    [
        [part(b'{"a": 1}', False)],
        [part(b'{"a"', True), part(b"", True), {"type": "http.other"}, part(b": 1}", False)],
        [part(b"", False)],
        [part(b"{", True), {"type": "http.disconnect"}],
    ],
)
def test_the_body_is_read_as_starlettes_stream_reads_it(messages: list[dict[str, Any]]) -> None:
    """read_body reads ``receive`` itself (no async generator, issue 17): the same bytes as
    Starlette's ``request.body()``, the same disconnect, the request left marked alike."""
    ours, theirs = request(list(messages), [JSON]), request(list(messages), [JSON])

    async def both() -> None:
        try:
            expected: bytes | None = await theirs.body()
        except ClientDisconnect:
            expected = None
        try:
            got: bytes | None = await read_json_body(ours, 100)
        except GatewayError as exc:
            assert exc.status == 408
            got = None
        assert got == expected
        assert ours._stream_consumed == theirs._stream_consumed
        assert ours._is_disconnected == theirs._is_disconnected

    asyncio.run(both())


def test_a_body_read_before_is_given_again_and_a_consumed_stream_is_an_error() -> None:
    async def twice() -> None:
        earlier = request([part(b"{}", False)], [JSON])
        assert await earlier.body() == b"{}"
        assert await read_json_body(earlier, 9) == b"{}"
        with pytest.raises(GatewayError) as large:
            await read_json_body(earlier, 1)
        assert large.value.status == 413
        consumed = request([part(b"{}", False)], [JSON])
        assert await read_json_body(consumed, 9) == b"{}"
        with pytest.raises(RuntimeError, match="Stream consumed"):
            await read_json_body(consumed, 9)
        with pytest.raises(RuntimeError, match="Stream consumed"):
            await consumed.body()

    asyncio.run(twice())


def test_a_json_body_goes_by_the_first_type_and_length_sent_as_header_reads_them() -> None:
    def status(headers: list[tuple[bytes, bytes]]) -> int | bytes:
        try:
            return asyncio.run(read_json_body(request([part(b"{}", False)], headers), 9))
        except GatewayError as refused:
            return refused.status

    text = (b"content-type", b"text/plain")
    assert status([JSON, text]) == b"{}"
    assert status([text, JSON]) == 415
    assert status([(b"content-length", b"2")]) == 415  # no type at all
    assert status([(b"content-length", b"99"), JSON, (b"content-length", b"2")]) == 413
    assert status([JSON, (b"content-length", b"2"), (b"content-length", b"99")]) == b"{}"


class Offering:
    """A server's receive whose owner offers the body whole (``llm_agg.api.arrived``)."""

    def __init__(self, whole: bytes | None, messages: list[dict[str, Any]]) -> None:
        self.whole = whole
        self.messages = messages
        self.taken = 0

    def take_body(self) -> bytes | None:
        self.taken += 1
        return self.whole

    async def receive(self) -> dict[str, Any]:
        return self.messages.pop(0)


def offered(server: Offering, limit: int = 100) -> tuple[bytes, Request]:
    made = Request({"type": "http", "method": "POST", "headers": [JSON]}, server.receive)
    return asyncio.run(read_json_body(made, limit)), made


def test_a_body_its_server_offers_whole_is_taken_without_receive() -> None:
    server = Offering(b'{"a": 1}', [part(b"not this", False)])
    body, made = offered(server)
    assert body == b'{"a": 1}' and server.taken == 1
    assert len(server.messages) == 1  # never received
    assert made._stream_consumed  # read once, as a received body is
    with pytest.raises(RuntimeError):
        asyncio.run(read_json_body(made, 100))


def test_a_body_not_offered_whole_is_received() -> None:
    server = Offering(None, [part(b'{"a"', True), part(b": 1}", False)])
    assert offered(server)[0] == b'{"a": 1}' and server.taken == 1 and not server.messages


def test_a_body_taken_whole_past_its_bound_is_413() -> None:
    with pytest.raises(GatewayError) as refused:
        offered(Offering(b"x" * 11, []), 10)
    assert refused.value.status == 413
    assert offered(Offering(b"x" * 10, []), 10)[0] == b"x" * 10
