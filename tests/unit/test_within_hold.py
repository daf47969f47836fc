"""``within_hold``: nothing held, the response's own coroutine; a hold, given back once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from starlette.responses import Response

from llm_agg.apps.budget import _nothing, within_hold


def test_nothing_held_is_the_responses_own_coroutine_and_its_answer() -> None:
    answer = Response(b"ok")

    async def respond() -> Response:
        return answer

    made: list[Coroutine[Any, Any, Response]] = []

    def starting() -> Coroutine[Any, Any, Response]:
        made.append(respond())
        return made[-1]

    awaited = within_hold(_nothing, starting)
    assert awaited is made[0]  # no layer of its own around it
    assert asyncio.run(made[0]) is answer  # type: ignore[arg-type]


def test_a_hold_is_given_back_once_when_the_answer_fails_or_after_it_went() -> None:
    given: list[bool] = []

    def release() -> None:
        given.append(True)

    async def fails() -> Response:
        raise RuntimeError("upstream")

    with pytest.raises(RuntimeError):
        asyncio.run(within_hold(release, fails))  # type: ignore[arg-type]
    assert given == [True]

    async def answers() -> Response:
        return Response(b"ok")

    assert asyncio.run(within_hold(release, answers)).body == b"ok"  # type: ignore[arg-type]
    assert given == [True, True]  # an answer that is not a stream: given back at once
