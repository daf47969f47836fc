"""What the stream's relay puts together before its first byte without the general path: the
head of ``EventStream.headed`` against Starlette's own, and the scrubbed translator working out
an account's secrets only once an error appears."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from llm_agg.api.chat import parse_chat
from llm_agg.api.wire import check_headers
from llm_agg.dispatch import (
    SSE_HEADERS,
    EventStream,
    _check_headers,
    _has,
    _headers,
    _pieces,
    _Relay,
    _relay_head,
)
from llm_agg.providers import openai_compat, scrub
from llm_agg.providers.accounts import Account
from llm_agg.providers.base import Target
from llm_agg.providers.openai_compat import OpenAICompatAdapter, StreamRelay
from llm_agg.providers.registry import BUILTIN
from llm_agg.providers.scrub import ScrubbedStream
from llm_agg.providers.sse import SSEEvent, SSEParser

KEY = "gsk_relay_head_secret_0123"


def target(provider: str = "groq", model: str = "llama-3.3-70b-versatile") -> Target:
    return Target(BUILTIN[provider], model, Account(provider, "a1", KEY, {"X-Org": "org-998877"}))


async def body() -> AsyncIterator[bytes]:
    yield b"data: {}\n\n"


def relayed() -> _Relay:
    """A relay of an answer of one event (what ``EventStream.headed`` is given)."""
    response = httpx.Response(200, stream=Pieces(b"data: [DONE]\n\n"))
    return relay_of(response, [])


@pytest.mark.parametrize("attempts", [1, 2, 12])
@pytest.mark.parametrize("provider", ["groq", "openrouter"])
def test_the_relay_head_is_the_one_starlette_writes(provider: str, attempts: int) -> None:
    chosen = target(provider, "meta-llama/Llama-3.3-70B:free")
    relay = relayed()
    ours = EventStream.headed(relay, _relay_head(chosen, attempts))
    content = ours.body_iterator
    theirs = EventStream(content, headers={**SSE_HEADERS, **_headers(chosen, attempts)})
    assert ours.raw_headers == theirs.raw_headers
    # Every attribute __init__ leaves, and no other but the relay it sends the first frames
    # of and the whole stream of it it was given.
    assert vars(ours) == {**vars(theirs), "_relay": relay, "_whole": content}
    assert ours.media_type == theirs.media_type and ours.charset == theirs.charset
    assert dict(ours.headers)["x-llm-agg-attempts"] == str(attempts)


def test_the_relay_head_written_again_is_the_same_in_a_list_of_its_own() -> None:
    # _relay_head remembers a head by target and attempts: the same lines again, for another
    # target object its own (even an equal one), and a head changed in place changes no other.
    chosen = target()
    first = _relay_head(chosen, 1)
    first.append((b"x-changed", b"in place"))
    again = _relay_head(chosen, 1)
    assert again == first[:-1] and again is not first
    assert _relay_head(chosen, 2) != again
    other = target("openrouter", "meta-llama/Llama-3.3-70B:free")
    theirs = EventStream(body(), headers={**SSE_HEADERS, **_headers(other, 1)})
    assert _relay_head(other, 1) == theirs.raw_headers


@pytest.mark.anyio
async def test_the_relay_sends_the_messages_starlette_stream_response_sends() -> None:
    # EventStream.__call__ runs Starlette's stream_response loop in its own frame.
    async def pieces() -> AsyncIterator[bytes | str]:
        yield b"data: 1\n\n"
        yield "data: \u00e9\n\n"  # text: encoded with the response's charset
        yield b""

    async def receive() -> dict[str, object]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    sent: dict[str, list[object]] = {"ours": [], "theirs": []}
    scope = {"type": "http", "asgi": {"spec_version": "2.4"}}
    ours = EventStream.headed(relayed(), _relay_head(target(), 1))
    ours.body_iterator = pieces()  # type: ignore[assignment]  # wrapped by a layer above
    theirs = EventStream(pieces(), headers={**SSE_HEADERS, **_headers(target(), 1)})
    await ours(scope, receive, lambda m: _note(sent["ours"], m))
    await StreamingResponse.__call__(theirs, scope, receive, lambda m: _note(sent["theirs"], m))
    assert sent["ours"] == sent["theirs"] and len(sent["ours"]) == 5


async def _note(into: list[object], message: object) -> None:
    into.append(message)


def test_a_name_latin_1_cannot_write_fails_as_starlette_does() -> None:
    chosen = target(model="m-\u20ac")
    with pytest.raises(UnicodeEncodeError):
        EventStream(body(), headers={**SSE_HEADERS, **_headers(chosen, 1)})
    with pytest.raises(UnicodeEncodeError):
        _relay_head(chosen, 1)


def translator(chosen: Target) -> ScrubbedStream:
    call = parse_chat(b'{"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true}')
    return ScrubbedStream(StreamRelay(call.include_usage), chosen.account)  # scrubbing none itself


def own_relay(chosen: Target) -> StreamRelay:
    call = parse_chat(b'{"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true}')
    relay = OpenAICompatAdapter().stream_translator(call, chosen)
    assert relay.scrubbed  # dispatch relays it without ScrubbedStream around it
    return relay


@pytest.mark.parametrize("own", [False, True], ids=["ScrubbedStream", "the relay itself"])
def test_secrets_are_not_worked_out_for_a_stream_without_error(
    monkeypatch: pytest.MonkeyPatch, own: bool
) -> None:
    def refuse(account: Account) -> tuple[str, ...]:
        raise AssertionError("secrets worked out with no error to scrub")

    monkeypatch.setattr(scrub, "account_secrets", refuse)
    monkeypatch.setattr(openai_compat, "account_secrets", refuse)
    relay = own_relay(target()) if own else translator(target())
    chunk = b'{"id":"c","object":"chat.completion.chunk","choices":[{"delta":{"content":"x"}}]}'
    assert relay.feed(SSEEvent(None, chunk)) == [b"data: " + chunk + b"\n\n"]
    assert relay.feed(SSEEvent(None, b"[DONE]"))[-1] == b"data: [DONE]\n\n"
    assert relay.error is None and relay.finish() == []


def test_an_error_is_scrubbed_of_the_key_and_header_values() -> None:
    relay = translator(target())
    said = f'{{"error":{{"message":"bad key {KEY} for org-998877"}}}}'.encode()
    frames = relay.feed(SSEEvent(None, said))
    assert relay.error is not None and KEY not in relay.error and "org-998877" not in relay.error
    assert "***" in relay.error
    assert frames and all(KEY.encode() not in f and b"org-998877" not in f for f in frames)


class Pieces(httpx.AsyncByteStream):
    def __init__(self, *pieces: bytes, fail: bool = False) -> None:
        self.pieces = pieces
        self.fail = fail
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.fail:
            raise httpx.ReadError("reset")

    async def aclose(self) -> None:
        self.closed = True


Reads = Callable[[httpx.Response], AsyncIterator[bytes]]
BOTH: list[Reads] = [httpx.Response.aiter_raw, _pieces]


@pytest.mark.anyio
@pytest.mark.parametrize("reads", BOTH, ids=["httpx", "ours"])
async def test_the_relay_reads_the_answer_as_aiter_raw_does(reads: Reads) -> None:
    stream = Pieces(b"data: 1\n\n", b"", b"data: 2\n\n")
    response = httpx.Response(200, stream=stream)
    assert [piece async for piece in reads(response)] == [b"data: 1\n\n", b"data: 2\n\n"]
    assert response.num_bytes_downloaded == 18
    assert response.is_stream_consumed and response.is_closed and stream.closed
    with pytest.raises(httpx.StreamConsumed):
        await anext(reads(response))


@pytest.mark.anyio
@pytest.mark.parametrize("reads", BOTH, ids=["httpx", "ours"])
async def test_a_broken_answer_names_its_request_and_a_closed_one_is_refused(
    reads: Reads,
) -> None:
    request = httpx.Request("POST", "https://api.example/v1/chat/completions")
    response = httpx.Response(200, stream=Pieces(b"x", fail=True), request=request)
    with pytest.raises(httpx.ReadError) as caught:
        _ = [piece async for piece in reads(response)]
    assert caught.value.request is request
    closed = httpx.Response(200, stream=Pieces(b"x"))
    await closed.aclose()
    with pytest.raises(httpx.StreamClosed):
        await anext(reads(closed))


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json", "authorization": f"Bearer {KEY}"},
        {"x-bad": "a\r\nb"},
        {"bad name": "x"},
        {"authorization": "Bearer clé"},
        {"x-count": 3},
        {"x-list": ["a"]},
    ],
)
def test_headers_are_checked_as_check_headers_does_every_time(headers: dict[str, object]) -> None:
    # _check_headers remembers a set that passed: the same set passes again, a bad one is
    # refused each time with check_headers' own error.
    try:
        check_headers(headers)  # type: ignore[arg-type]
        expected: type[Exception] | None = None
    except (ValueError, TypeError) as exc:
        expected = type(exc)
    for _ in range(2):
        if expected is None:
            _check_headers(headers)  # type: ignore[arg-type]
        else:
            with pytest.raises(expected):
                _check_headers(headers)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["content-encoding", "Content-Encoding", "x-other"])
def test_a_header_is_found_as_httpx_finds_it(name: str) -> None:
    headers = httpx.Headers([(name, "gzip"), ("Content-Type", "text/event-stream")])
    for asked in ("content-encoding", "content-type", "x-other", "missing"):
        assert _has(headers, asked.encode()) == (asked in headers)


@pytest.mark.anyio
@pytest.mark.parametrize("reads", [1, 3], ids=["the client leaves", "read whole"])
async def test_the_answer_headers_are_heard_once_after_the_first_frames(reads: int) -> None:
    chosen = target()
    said: list[str] = []
    response = httpx.Response(
        200,
        headers={"x-ratelimit-remaining-requests": "0"},
        stream=Pieces(b"data: [DONE]\n\n"),
    )

    def heard(heard_of: Target, headers: httpx.Headers) -> None:
        assert heard_of is chosen and headers is response.headers
        said.append("heard")

    relay = _Relay(
        b"data: {}\n\n",
        _pieces(response),
        response,
        SSEParser(),
        translator(chosen),
        chosen,
        heard,
        lambda failure: said.append("finished"),
    ).stream(first_sent=False)
    got = [await anext(relay) for _ in range(reads)]
    assert got[0] == b"data: {}\n\n"
    assert said == (["heard"] if reads > 1 else [])  # not before the first frames are out
    await relay.aclose()
    assert said == ["heard", "finished"]
    assert response.is_closed


def relay_of(response: httpx.Response, said: list[str], first: bytes = b"data: {}\n\n") -> _Relay:
    chosen = target()
    return _Relay(
        first,
        _pieces(response),
        response,
        SSEParser(),
        translator(chosen),
        chosen,
        lambda heard_of, headers: said.append("heard"),
        lambda failure: said.append(f"finished {failure.kind.value if failure else None}"),
    )


DONE = b"data: [DONE]\n\n"
CHUNK = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'
SCOPE = {"type": "http", "asgi": {"spec_version": "2.4"}}


async def never() -> dict[str, object]:
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


@pytest.mark.anyio
async def test_the_first_frames_go_out_before_the_relay_starts_and_the_rest_follows() -> None:
    # EventStream sends its relay's first frames itself, then the rest: the same messages as
    # a layer above reading the whole stream gets sent.
    sent: dict[str, list[object]] = {"ours": [], "wrapped": []}
    said: dict[str, list[str]] = {"ours": [], "wrapped": []}
    for way in ("ours", "wrapped"):
        response = httpx.Response(200, stream=Pieces(CHUNK, DONE))
        relay = relay_of(response, said[way])
        stream = EventStream.headed(relay, _relay_head(target(), 1))

        async def whole(
            inner: AsyncIterator[bytes] = stream.body_iterator, heard: list[str] = said[way]
        ) -> AsyncIterator[bytes]:
            assert heard == []  # nothing heard before the first frames are out
            async for piece in inner:
                yield piece

        if way == "wrapped":
            stream.body_iterator = whole()
        else:
            assert said[way] == []
        await stream(dict(SCOPE), never, lambda m, way=way: _note(sent[way], m))  # type: ignore[misc]
        assert response.is_closed
    assert sent["ours"] == sent["wrapped"]
    bodies = [m["body"] for m in sent["ours"][1:]]  # type: ignore[index]
    assert bodies == [b"data: {}\n\n", CHUNK, DONE, b"", b""]  # finish(): nothing owed
    assert said["ours"] == said["wrapped"] == ["heard", "finished None"]


@pytest.mark.anyio
@pytest.mark.parametrize("fails", ["start", "first"])
async def test_a_relay_whose_rest_never_starts_is_closed_heard_and_settled(fails: str) -> None:
    # The client gone as the head or the first frames go out (an ASGI 2.4 server's OSError):
    # the relay's stream never starts, so the EventStream ends it, once.
    response = httpx.Response(200, stream=Pieces(CHUNK, DONE))
    said: list[str] = []
    relay = relay_of(response, said)
    sent: list[object] = []

    async def send(message: dict[str, object]) -> None:
        if (message["type"] == "http.response.start") == (fails == "start"):
            raise OSError("gone")
        sent.append(message)

    with pytest.raises(ClientDisconnect):
        await EventStream.headed(relay, _relay_head(target(), 1))(dict(SCOPE), never, send)
    assert response.is_closed and response.stream.closed  # type: ignore[attr-defined]
    assert said == ["heard", "finished None"]
    await relay.abandon()  # again: nothing more
    assert said == ["heard", "finished None"]


@pytest.mark.anyio
@pytest.mark.parametrize("fails", [False, True], ids=["read whole", "abandoned"])
async def test_a_relayed_stream_leaves_nothing_for_the_garbage_collector(fails: bool) -> None:
    # A relay and its EventStream make no reference cycle: all of a request's relay goes as
    # its last reference does (a cycle a stream kept young collections coming, issue 17).
    import gc
    import weakref

    response = httpx.Response(200, stream=Pieces(CHUNK, DONE))
    gone = weakref.ref(response)
    relay = relay_of(response, [])
    stream = EventStream.headed(relay, _relay_head(target(), 1))
    del response, relay

    async def send(message: dict[str, object]) -> None:
        if fails and message.get("body"):
            raise OSError("gone")

    gc.disable()
    try:
        try:
            await stream(dict(SCOPE), never, send)
        except ClientDisconnect:
            assert fails
        del stream
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "said",
    [
        f'{{"error":{{"message":"bad key {KEY} for org-998877"}}}}',
        f'{{"x_groq":{{"error":{{"message":"key {KEY}"}}}}}}',
        f'{{"error":"org-998877 and {KEY}"}}',
    ],
)
def test_a_relay_given_its_account_scrubs_its_error_as_scrubbed_stream_does(said: str) -> None:
    chosen = target()
    ours = own_relay(chosen)
    theirs = translator(chosen)
    assert ours.feed(SSEEvent(None, said.encode())) == theirs.feed(SSEEvent(None, said.encode()))
    assert ours.error == theirs.error
    assert ours.error is not None and KEY not in ours.error and "org-998877" not in ours.error
    assert ours.finish() == theirs.finish() == []
