"""Threads: bound to their caller, written only over the version read, refused whole when too
large; and the agent endpoints' answers to bad requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from llm_agg.agent.state import encode
from llm_agg.store.base import Checkpoint
from llm_agg.usage import day_of
from tests.functional.agent.support import (
    INVOKE,
    RESUME,
    AgentHarness,
    MemoryCheckpoints,
    call,
    sent_messages,
    submit,
    text,
)

pytestmark = pytest.mark.anyio


async def pause(agent: AgentHarness, **extra: Any) -> dict[str, Any]:
    agent.queue(call("ask_human_for_input", {"question": "Which name?"}))
    body: dict[str, Any] = (await agent.invoke(instruction="name it", **extra)).json()
    assert body["agent_status"] == "requires_human_input"
    return body


def answer(paused: dict[str, Any], response: str = "foo") -> dict[str, Any]:
    return {
        "thread_id": paused["thread_id"],
        "tool_call_id": paused["human_input_request"]["tool_call_id"],
        "human_response": response,
    }


async def test_two_concurrent_resumes_of_one_pause_one_wins_the_other_gets_409(
    agent: AgentHarness,
) -> None:
    paused = await pause(agent)
    agent.queue(submit("slow", explanation="x") | {"sleep": 0.3}, submit("second"))
    first, second = await asyncio.gather(
        agent.resume(**answer(paused, "a")), agent.resume(**answer(paused, "b"))
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["error"]["type"] == "conflict_error"
    assert len(agent.upstream.received()) == 2  # the loser never called the model
    assert agent.store.state(paused["thread_id"]).status == "completed"


async def test_a_resume_with_a_wrong_tool_call_id_is_400_and_leaves_the_thread(
    agent: AgentHarness,
) -> None:
    paused = await pause(agent)
    before = agent.store.items[paused["thread_id"]]
    wrong = {**answer(paused), "tool_call_id": "call_not_this_one"}
    response = await agent.resume(**wrong)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "tool_call_id" and error["code"] == "wrong_tool_call_id"
    assert agent.store.items[paused["thread_id"]] == before
    assert len(agent.upstream.received()) == 1

    agent.queue(submit("foo = 1"))
    assert (await agent.resume(**answer(paused))).json()["agent_status"] == "completed"


async def test_client_results_must_answer_exactly_the_pending_calls(
    make_agent: Callable[..., AgentHarness],
) -> None:
    agent = make_agent()
    agent.queue(call("read_file", {"path": "a.py"}))
    paused = (await agent.invoke(instruction="x", project_directory="/nowhere/at/all")).json()
    assert paused["agent_status"] == "requires_client_tools"
    before = agent.store.items[paused["thread_id"]]
    wrong = [{"tool_call_id": "call_other", "output": "x"}]
    response = await agent.resume(thread_id=paused["thread_id"], tool_results=wrong)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_results"
    assert agent.store.items[paused["thread_id"]] == before

    pending_id = paused["pending_tool_calls"][0]["id"]
    doubled = [{"tool_call_id": pending_id, "output": "a"}] * 2
    response = await agent.resume(thread_id=paused["thread_id"], tool_results=doubled)
    assert response.status_code == 400


async def test_answers_of_the_wrong_kind_or_too_late_are_refused(agent: AgentHarness) -> None:
    paused = await pause(agent)
    results = [{"tool_call_id": paused["human_input_request"]["tool_call_id"], "output": "x"}]
    wrong_kind = await agent.resume(thread_id=paused["thread_id"], tool_results=results)
    assert wrong_kind.status_code == 409
    agent.queue(submit("x"))
    done = await agent.resume(**answer(paused))
    assert done.status_code == 200
    again = await agent.resume(**answer(paused))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_waiting"


async def test_a_resume_without_an_answer_reads_a_thread_with_nothing_to_run(
    agent: AgentHarness,
) -> None:
    """A client that lost an answer (a timeout, a crash) can read the thread again."""
    paused = await pause(agent)
    before = agent.store.items[paused["thread_id"]]
    assert (await agent.resume(thread_id=paused["thread_id"])).json() == paused
    assert agent.store.items[paused["thread_id"]] == before
    agent.queue(submit("x"))
    done = (await agent.resume(**answer(paused))).json()
    assert (await agent.resume(thread_id=paused["thread_id"])).json() == done
    assert len(agent.upstream.received()) == 2


async def test_another_caller_cannot_see_or_resume_a_thread(
    make_agent: Callable[..., AgentHarness],
) -> None:
    agent = make_agent(require_auth=True)
    keys = agent.runtime.stored
    await keys.open()
    alice = await asyncio.to_thread(keys.keys.create, "alice")
    bob = await asyncio.to_thread(keys.keys.create, "bob")

    def as_(key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    agent.queue(call("ask_human_for_input", {"question": "?"}))
    started = await agent.client.post(INVOKE, json={"instruction": "x"}, headers=as_(alice.key))
    paused = started.json()
    assert agent.store.items[paused["thread_id"]].owner == alice.record.key_id
    stolen = await agent.client.post(RESUME, json=answer(paused), headers=as_(bob.key))
    assert stolen.status_code == 404
    assert stolen.json()["error"]["code"] == "thread_not_found"
    more = {"instruction": "y", "thread_id": paused["thread_id"]}
    assert (await agent.client.post(INVOKE, json=more, headers=as_(bob.key))).status_code == 404
    anonymous = await agent.client.post(RESUME, json=answer(paused))
    assert anonymous.status_code == 401
    agent.queue(submit("x"))
    mine = await agent.client.post(RESUME, json=answer(paused), headers=as_(alice.key))
    assert mine.status_code == 200

    runtime = agent.runtime  # the model calls count as alice's usage
    await runtime.usage.flush()
    today = day_of(time.time())
    rows = await asyncio.to_thread(keys.stores.usage.query, today, today)
    assert {(r.gateway_key, r.requests) for r in rows} == {(alice.record.key_id, 2)}


async def test_a_thread_id_the_client_chose_starts_a_thread_then_goes_on_with_it(
    agent: AgentHarness,
) -> None:
    """The usage guide's first request sends ``"thread_id": "thread_abc123"``."""
    agent.queue(submit("a = 1"))
    first = (await agent.invoke(instruction="make a", thread_id="thread_abc123")).json()
    assert first["agent_status"] == "completed" and first["thread_id"] == "thread_abc123"
    assert agent.store.state("thread_abc123").status == "completed"

    agent.queue(submit("a = 2"))
    second = (await agent.invoke(instruction="now 2", thread_id="thread_abc123")).json()
    assert second["thread_id"] == "thread_abc123"
    history = sent_messages(agent.upstream)[-1]
    said = [m.get("content") for m in history if m["role"] == "user"]
    assert any("make a" in str(c) for c in said) and any("now 2" in str(c) for c in said)


async def test_a_thread_id_another_key_holds_answers_as_if_there_were_none(
    make_agent: Callable[..., AgentHarness],
) -> None:
    agent = make_agent(require_auth=True)
    keys = agent.runtime.stored
    await keys.open()
    alice = await asyncio.to_thread(keys.keys.create, "alice")
    bob = await asyncio.to_thread(keys.keys.create, "bob")
    agent.queue(submit("x"))
    mine = {"instruction": "x", "thread_id": "team-thread"}
    started = await agent.client.post(
        INVOKE, json=mine, headers={"authorization": f"Bearer {alice.key}"}
    )
    assert started.status_code == 200
    before = agent.store.items["team-thread"]

    taken = await agent.client.post(
        INVOKE, json=mine, headers={"authorization": f"Bearer {bob.key}"}
    )
    never = {"thread_id": "no-such-thread", "human_response": "x", "tool_call_id": "c"}
    absent = await agent.client.post(
        RESUME, json=never, headers={"authorization": f"Bearer {bob.key}"}
    )
    assert taken.status_code == absent.status_code == 404
    error, other = taken.json()["error"], absent.json()["error"]
    assert error["message"] == "No thread 'team-thread'."
    assert {**error, "message": ""} == {**other, "message": ""}
    assert agent.store.items["team-thread"] == before
    assert len(agent.upstream.received()) == 1


@pytest.mark.parametrize(
    "thread_id", ["", "x" * 129, "../other", "has space", "-leading", "a/b", "ü-thread"]
)
async def test_a_thread_id_that_is_no_safe_name_is_400(agent: AgentHarness, thread_id: str) -> None:
    invoked = await agent.invoke(instruction="x", thread_id=thread_id)
    resumed = await agent.resume(thread_id=thread_id)
    for response in (invoked, resumed):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == "thread_id" and "letters, digits" in error["message"]
    assert agent.store.items == {} and agent.upstream.received() == []


async def test_an_open_local_servers_threads_are_not_a_key_holders(
    make_agent: Callable[..., AgentHarness],
) -> None:
    agent = make_agent()
    paused = await pause(agent)
    assert agent.store.items[paused["thread_id"]].owner == "-"
    stored = agent.runtime.stored
    await stored.open()
    key = (await asyncio.to_thread(stored.keys.create, "k")).key
    headers = {"authorization": f"Bearer {key}"}
    response = await agent.client.post(RESUME, json=answer(paused), headers=headers)
    assert response.status_code == 404


async def test_an_unknown_or_expired_thread_is_404(make_agent: Callable[..., AgentHarness]) -> None:
    now = [1000.0]
    store = MemoryCheckpoints(clock=lambda: now[0])
    agent = make_agent(store=store)
    unknown = await agent.resume(thread_id="thread_never", human_response="x", tool_call_id="c")
    assert unknown.status_code == 404
    paused = await pause(agent)
    item = store.items[paused["thread_id"]]
    store.items[paused["thread_id"]] = Checkpoint(
        item.thread_id, item.owner, item.version, item.data, expires_at=now[0] - 1
    )
    assert (await agent.resume(**answer(paused))).status_code == 404


async def test_a_thread_is_kept_for_seven_days_from_its_last_write(agent: AgentHarness) -> None:
    paused = await pause(agent)
    item = agent.store.items[paused["thread_id"]]
    state = agent.store.state(paused["thread_id"])
    assert 7 * 86400 - 60 < item.expires_at - state.created_at <= 7 * 86400 + 60
    assert item.data == encode(state) and item.version == 1


async def test_a_thread_too_large_to_store_is_refused_with_a_clear_error(
    make_agent: Callable[..., AgentHarness],
) -> None:
    store = MemoryCheckpoints(limit=3000)
    agent = make_agent(store=store)
    paused = await pause(agent)
    big = "".join(f"{i:x}" for i in range(20000))  # compresses poorly
    agent.queue(text(big))
    response = await agent.resume(**answer(paused))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "thread_too_large"
    assert "too large to save" in error["message"]
    state = store.state(paused["thread_id"])
    assert state.status == "error" and state.error is not None
    assert state.error.code == "thread_too_large"
    assert [m["role"] for m in state.messages] == ["system", "user", "assistant"]


async def test_routing_errors_are_answered_before_any_thread_is_made(
    agent: AgentHarness,
) -> None:
    unknown = await agent.invoke(instruction="x", provider="nosuch")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_provider"
    missing = await agent.invoke(instruction="x", model="groq/none-such", provider="cerebras")
    assert missing.status_code == 400
    assert agent.store.items == {}
    assert agent.upstream.received() == []


async def test_the_requested_provider_and_model_are_used(agent: AgentHarness) -> None:
    agent.queue(text("hi"), provider="cerebras")
    body = (await agent.invoke(instruction="x", provider="cerebras", model="fake-model")).json()
    assert body["model_used"] == "cerebras/fake-model"
    assert body["request_params"]["provider"] == "cerebras"
    assert sent_messages(agent.upstream)[0][0]["role"] == "system"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "instruction"),
        ({"instruction": "   "}, "instruction"),
        ({"instruction": "x", "instructions": "typo"}, "instructions"),
        ({"instruction": "x", "model_quality": "best"}, "model_quality"),
        ({"instruction": 5}, "instruction"),
    ],
)
async def test_a_bad_invoke_body_is_400_naming_the_field(
    agent: AgentHarness, body: dict[str, Any], param: str
) -> None:
    response = await agent.client.post(INVOKE, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_bodies_that_are_not_json_are_refused(agent: AgentHarness) -> None:
    form = await agent.client.post(INVOKE, content=b'{"instruction": "x"}')
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"
    headers = {"content-type": "application/json"}
    broken = await agent.client.post(INVOKE, content=b"{", headers=headers)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    listing = await agent.client.post(RESUME, content=b"[]", headers=headers)
    assert listing.status_code == 400


async def test_a_resume_with_both_kinds_of_answer_is_400(agent: AgentHarness) -> None:
    paused = await pause(agent)
    results = [{"tool_call_id": "c", "output": "x"}]
    both = await agent.resume(**answer(paused), tool_results=results)
    assert both.status_code == 400
    half = await agent.resume(thread_id=paused["thread_id"], human_response="x")
    assert half.status_code == 400 and half.json()["error"]["param"] == "tool_call_id"
