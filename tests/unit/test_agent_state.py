"""Checkpoint encoding, answers in plain text, and the loop's small rules."""

from __future__ import annotations

import zlib

import orjson
import pytest

from llm_agg.agent.loop import approved, truncate
from llm_agg.agent.model import assistant_message
from llm_agg.agent.prompt import split_answer, user_message
from llm_agg.agent.state import (
    FORMAT,
    CheckpointUnreadable,
    Failure,
    Pending,
    ThreadState,
    decode,
    encode,
)
from llm_agg.api.errors import UpstreamFailed


def state() -> ThreadState:
    return ThreadState(
        thread_id="thread_1",
        owner="key_1",
        params={"instruction": "x" * 1000},
        messages=[{"role": "user", "content": "x" * 1000}],
        files="client",
        status="requires_client_tools",
        pending=[Pending("call_1", "read_file", '{"path":"a"}', "client")],
        answered={"call_0": "ok"},
        error=Failure("boom", "provider_failed", True),
        steps=3,
        version=4,
    )


def test_a_checkpoint_round_trips_compressed_with_its_version_kept_outside() -> None:
    original = state()
    data = encode(original)
    assert len(data) < 400
    assert orjson.loads(zlib.decompress(data))["format"] == FORMAT
    assert "version" not in orjson.loads(zlib.decompress(data))
    assert decode(data, 4) == original


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not zlib", "corrupt"),
        (zlib.compress(b"{nope"), "corrupt"),
        (zlib.compress(orjson.dumps({"format": FORMAT + 1})), "this release reads"),
        (zlib.compress(orjson.dumps([1])), "has format None"),
        (zlib.compress(orjson.dumps({"format": FORMAT, "thread_id": "t"})), "incomplete"),
    ],
)
def test_unreadable_checkpoints_are_refused_not_misread(data: bytes, message: str) -> None:
    with pytest.raises(CheckpointUnreadable, match=message):
        decode(data, 1)


def test_a_new_instruction_starts_the_bounds_afresh() -> None:
    s = state()
    s.repeats, s.tokens, s.finished, s.generated_code = {"k": 2}, 500, True, "x"
    s.start_instruction()
    assert (s.steps, s.tokens, s.repeats, s.finished, s.generated_code, s.error) == (
        0,
        0,
        {},
        False,
        None,
        None,
    )


def test_long_output_keeps_head_and_tail() -> None:
    text = "A" * 100 + "B" * 1000 + "C" * 100
    cut = truncate(text, 150)
    assert cut.startswith("A" * 100) and cut.endswith("C" * 50)
    assert "[... 1050 characters omitted ...]" in cut
    assert truncate("short", 150) == "short"


@pytest.mark.parametrize(
    ("answer", "yes"),
    [("yes", True), ("Yes, go ahead", True), (" OK!", True), ("y", True), ("no", False)],
)
def test_only_a_clear_yes_approves_a_write(answer: str, yes: bool) -> None:
    assert approved(answer) is yes
    assert not approved("yesterday's version please")


def test_a_plain_answer_is_split_into_code_and_explanation() -> None:
    assert split_answer("```js\na()\n```\ntext\n```\nb()\n```") == ("a()\n\nb()", "text")
    assert split_answer("just words") == (None, "just words")


def test_the_instruction_carries_language_and_context() -> None:
    message = user_message("Add types", "def f(x): pass", "python")
    assert message["content"] == (
        "Add types\n\nLanguage: python.\n\nContext:\n```python\ndef f(x): pass\n```"
    )


def test_the_assistant_message_keeps_only_what_providers_accept_back() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "reasoning": "hidden",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "a", "arguments": {}},
                        },
                        {"id": "c1", "type": "function", "function": {"name": "b"}},
                        {"type": "function", "function": {"arguments": "{}"}},
                    ],
                }
            }
        ]
    }
    message = assistant_message(orjson.dumps(body))
    assert set(message) == {"role", "content", "tool_calls"}
    first, second = message["tool_calls"]
    assert first == {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}}
    assert second["id"] != "c1" and second["function"] == {"name": "b", "arguments": "{}"}
    with pytest.raises(UpstreamFailed):
        assistant_message(b'{"choices": []}')
