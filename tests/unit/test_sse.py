from __future__ import annotations

from pathlib import Path

import pytest

from llm_agg.providers.sse import SSEEvent, SSEParser
from tests.conftest import FIXTURES


def parse_in_pieces(raw: bytes, size: int) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for i in range(0, len(raw), size):
        events += parser.feed(raw[i : i + size])
    return events + parser.flush()


def test_events_split_across_reads_at_any_byte_are_the_same() -> None:
    raw = b'event: a\ndata: {"x": 1}\n\n: comment\ndata: two\ndata: lines\n\ndata: [DONE]\n\n'
    whole = parse_in_pieces(raw, len(raw))
    assert whole == [
        SSEEvent("a", b'{"x": 1}'),
        SSEEvent(None, b"two\nlines"),
        SSEEvent(None, b"[DONE]"),
    ]
    for size in range(1, 12):
        assert parse_in_pieces(raw, size) == whole


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_every_line_ending_is_understood(newline: bytes) -> None:
    raw = newline.join([b"event: ping", b"data: {}", b"", b"data: [DONE]", b"", b""])
    for size in (1, 2, 3, len(raw)):
        assert parse_in_pieces(raw, size) == [SSEEvent("ping", b"{}"), SSEEvent(None, b"[DONE]")]


def test_comment_lines_are_skipped() -> None:
    raw = b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: {}\n\n"
    assert parse_in_pieces(raw, 5) == [SSEEvent(None, b"{}")]


def test_a_stream_ending_without_a_blank_line_still_yields_its_last_event() -> None:
    assert parse_in_pieces(b"data: last\n", 3) == [SSEEvent(None, b"last")]


def test_a_line_cut_off_at_the_end_is_not_an_event() -> None:
    assert parse_in_pieces(b'data: {"a": 1}\n\ndata: {"b": ', 4) == [SSEEvent(None, b'{"a": 1}')]


@pytest.mark.parametrize(
    "read",
    [
        b'data: {"a": 1}\n\n',
        b"data: [DONE]\n\n",
        b"data: \n\n",
        b"data:  two spaces\n\n",
        b"data: :not a comment\n\n",
        b"data: x\r\n\r\n",
        b"data: x\r\r",
        b"data: a\ndata: b\n\n",
        b"data: a\n\ndata: b\n\n",
        b"data: a\n\n\n",
        b"event: e\ndata: a\n\n",
        b"data: a\n",
        b"data:a\n\n",
        b"data: a\rb\n\n",
    ],
)
def test_a_read_of_one_event_parses_as_the_general_path_does(read: bytes) -> None:
    # SSEParser.feed reads one "data: ..." event whole without splitting it.
    for before in (b"", b"data: cut", b": comment\n"):
        quick, general = SSEParser(), SSEParser()
        assert quick.feed(before) == general._feed(before)
        assert quick.feed(read) == general._feed(read)
        assert quick.flush() == general.flush()


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/*.sse")), ids=lambda p: p.name)
def test_recorded_streams_parse_to_json_events(path: Path) -> None:
    import orjson

    raw = path.read_bytes()
    events = parse_in_pieces(raw, 7)
    assert events == parse_in_pieces(raw, len(raw))
    assert events
    for event in events:
        if event.data != b"[DONE]":
            orjson.loads(event.data)
