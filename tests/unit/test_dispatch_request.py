"""``Dispatcher._request``: the request on its way through the targets, made without the
dataclass's ``__init__`` (issue 17), holds what ``_Request(...)`` would."""

from __future__ import annotations

import time
from dataclasses import fields
from types import SimpleNamespace

import pytest

from llm_agg.api.chat import ChatCall
from llm_agg.dispatch import Dispatcher, _Request
from llm_agg.routing.classify import estimate_tokens
from tests.support.routing import chat


@pytest.mark.parametrize("measured", [True, False], ids=["measured by parse_chat", "not yet"])
def test_the_request_holds_every_field_as_its_init_would(measured: bool) -> None:
    settings = SimpleNamespace(deadline=30.0)
    runtime = SimpleNamespace(accounting=None, adapters={}, settings=settings)
    call = chat("How long is a piece of string? " * 20)
    if not measured:
        call = ChatCall(call.body, call.request)
    assert (call.measured is not None) is measured
    before = time.monotonic()
    req = Dispatcher(runtime)._request(call, "key-1")  # type: ignore[arg-type]
    after = time.monotonic()
    assert before + 30.0 <= req.deadline <= after + 30.0
    made = _Request(call, "key-1", estimate_tokens(call), req.deadline)
    assert req == made
    for f in fields(_Request):
        assert getattr(req, f.name) == getattr(made, f.name)
    assert req.prompt_tokens > 100
