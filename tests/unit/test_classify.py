from __future__ import annotations

import pytest

from llm_agg.routing.classify import LONG_CONTEXT_TOKENS, classify
from tests.support.routing import IMAGE, WEATHER_TOOL, chat


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Hello! How are you?", "general"),
        ("Tell me a story about a dragon", "general"),
        ("Write a python function that reverses a linked list", "code"),
        ("Why does this fail?\n```js\nconst x = y.map(z => z * 2);\n```", "code"),
        ('Traceback (most recent call last):\n  File "a.py", line 1', "code"),
        ("Refactor this class to remove the bug in the compile step", "code"),
        ("Solve the equation 3x + 5 = 20 step by step", "reasoning"),
        ("Prove that the square root of 2 is irrational", "reasoning"),
        ("What is 17 * 23? Calculate it carefully", "reasoning"),
        ("Explain how snakes hunt", "general"),
    ],
)
def test_task_is_read_from_the_last_user_message(text: str, task: str) -> None:
    assert classify(chat(text)).task == task


def test_images_make_a_vision_request() -> None:
    call = chat(
        "x", messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, IMAGE]}]
    )
    profile = classify(call)
    assert profile.task == "vision"
    assert profile.prompt_tokens >= 1000  # an image costs tokens its base64 length does not show


def test_tools_make_a_tool_use_request() -> None:
    profile = classify(chat("What's the weather in Paris?", tools=[WEATHER_TOOL]))
    assert profile.task == "tools"
    assert "tools" in profile.tasks


def test_several_tasks_at_once_keep_the_most_telling_one_first() -> None:
    profile = classify(chat("Write a python function and a unit test", tools=[WEATHER_TOOL]))
    assert profile.tasks >= {"code", "tools"}
    assert profile.task == "code"


def test_a_long_prompt_is_long_context() -> None:
    profile = classify(chat("word " * (LONG_CONTEXT_TOKENS + 1000)))
    assert profile.task == "long_context"
    assert profile.prompt_tokens > LONG_CONTEXT_TOKENS


def test_reasoning_effort_marks_reasoning() -> None:
    assert "reasoning" in classify(chat("Hi", reasoning_effort="high")).tasks


def test_prompt_tokens_count_every_message() -> None:
    short = classify(chat("a" * 400)).prompt_tokens
    longer = classify(
        chat(
            "x",
            messages=[
                {"role": "system", "content": "b" * 4000},
                {"role": "user", "content": "a" * 400},
            ],
        )
    ).prompt_tokens
    assert 100 <= short < 120
    assert longer >= short + 1000
