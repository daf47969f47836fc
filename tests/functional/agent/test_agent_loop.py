"""The agent loop over ASGI, its model a scripted fake provider reached through the router over
HTTP on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.functional.agent.support import (
    AgentHarness,
    call,
    calls,
    config,
    sent_messages,
    submit,
    text,
)

pytestmark = pytest.mark.anyio


async def test_read_modify_write_fixes_the_file_and_completes(
    agent: AgentHarness, project: Path
) -> None:
    fixed = "def add(a, b):\n    return a + b\n"
    agent.queue(
        call("list_files", {"path": ".", "recursive": True}),
        call("read_file", {"path": "src/calc.py"}),
        call("write_file", {"path": "src/calc.py", "content": fixed}),
        submit(fixed, "add subtracted; it adds now"),
    )
    response = await agent.invoke(instruction="Fix add", project_directory=str(project))
    assert response.status_code == 200
    body = response.json()
    assert body["agent_status"] == "completed"
    assert body["generated_code"] == fixed
    assert body["explanation"] == "add subtracted; it adds now"
    assert body["model_used"] == "groq/fake-model"
    assert body["request_params"] == {"instruction": "Fix add", "project_directory": str(project)}
    assert body["error_details"] is None and body["pending_tool_calls"] is None
    assert (project / "src" / "calc.py").read_text() == fixed
    sent = sent_messages(agent.upstream)
    assert len(sent) == 4
    assert sent[1][-1] == {
        "role": "tool",
        "tool_call_id": sent[1][-2]["tool_calls"][0]["id"],
        "content": "src/\nsrc/calc.py",
    }
    assert sent[2][-1]["content"] == "def add(a, b):\n    return a - b\n"
    assert sent[3][-1]["content"] == f"Wrote {len(fixed)} characters to src/calc.py."


async def test_the_model_is_offered_the_file_tools_only_with_a_project(
    agent: AgentHarness, project: Path
) -> None:
    agent.queue(text("no project"), text("with project"))
    await agent.invoke(instruction="a")
    await agent.invoke(instruction="b", project_directory=str(project))
    first, second = (r["body"]["tools"] for r in agent.upstream.received())
    assert [t["function"]["name"] for t in first] == ["submit_code", "ask_human_for_input"]
    assert [t["function"]["name"] for t in second] == [
        "submit_code",
        "ask_human_for_input",
        "read_file",
        "write_file",
        "list_files",
        "search_files",
    ]


async def test_a_plain_text_answer_completes_with_its_code_blocks_extracted(
    agent: AgentHarness,
) -> None:
    agent.queue(text("Here it is:\n```python\ndef f(n):\n    return n\n```\nIt returns n."))
    body = (await agent.invoke(instruction="identity", language="python")).json()
    assert body["agent_status"] == "completed"
    assert body["generated_code"] == "def f(n):\n    return n"
    assert body["explanation"] == "Here it is:\n\nIt returns n."
    user = sent_messages(agent.upstream)[0][1]
    assert user == {"role": "user", "content": "identity\n\nLanguage: python."}


async def test_a_question_to_the_human_pauses_and_the_answer_resumes_the_run(
    agent: AgentHarness,
) -> None:
    agent.queue(call("ask_human_for_input", {"question": "Recursive or iterative?"}))
    paused = (await agent.invoke(instruction="factorial")).json()
    assert paused["agent_status"] == "requires_human_input"
    request = paused["human_input_request"]
    assert request["question_for_human"] == "Recursive or iterative?"
    assert request["tool_call_id"].startswith("call_")
    assert paused["generated_code"] is None and paused["thread_id"].startswith("thread_")

    agent.queue(submit("def fact(n): ..."))
    done = await agent.resume(
        thread_id=paused["thread_id"],
        tool_call_id=request["tool_call_id"],
        human_response="Iterative, please.",
    )
    assert done.status_code == 200
    assert done.json()["agent_status"] == "completed"
    assert done.json()["generated_code"] == "def fact(n): ..."
    assert done.json()["request_params"] == {"instruction": "factorial"}
    last = sent_messages(agent.upstream)[-1][-1]
    assert last == {
        "role": "tool",
        "tool_call_id": request["tool_call_id"],
        "content": "Iterative, please.",
    }


async def test_file_tools_go_to_the_client_when_the_server_cannot_reach_the_project(
    make_agent: Callable[..., AgentHarness], project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "allowed"
    elsewhere.mkdir()
    agent = make_agent(config(roots=(elsewhere,)))
    agent.queue(
        calls(("read_file", {"path": "src/calc.py"}), ("list_files", {})),
        submit("fixed"),
    )
    paused = (await agent.invoke(instruction="Fix", project_directory=str(project))).json()
    assert paused["agent_status"] == "requires_client_tools"
    pending = paused["pending_tool_calls"]
    assert [p["type"] for p in pending] == ["function", "function"]
    assert pending[0]["function"] == {"name": "read_file", "arguments": '{"path":"src/calc.py"}'}
    assert pending[1]["function"] == {"name": "list_files", "arguments": "{}"}
    assert set(pending[0]) == {"id", "type", "function"}
    assert paused["human_input_request"] is None

    results = [
        {"tool_call_id": pending[1]["id"], "output": "src/\nsrc/calc.py"},
        {"tool_call_id": pending[0]["id"], "output": "client's copy"},
    ]
    done = (await agent.resume(thread_id=paused["thread_id"], tool_results=results)).json()
    assert done["agent_status"] == "completed"
    answered = sent_messages(agent.upstream)[-1][-2:]
    assert [m["content"] for m in answered] == ["client's copy", "src/\nsrc/calc.py"]
    assert (project / "src" / "calc.py").read_text().endswith("a - b\n")  # untouched here


async def test_an_invalid_tool_argument_goes_back_to_the_model_which_corrects_it(
    agent: AgentHarness, project: Path
) -> None:
    agent.queue(
        call("read_file", {"file": "src/calc.py"}),
        call("read_file", '{"path": "src/calc.py"'),
        call("read_file", {"path": "src/calc.py"}),
        submit("ok"),
    )
    body = (await agent.invoke(instruction="read", project_directory=str(project))).json()
    assert body["agent_status"] == "completed"
    sent = sent_messages(agent.upstream)
    assert sent[1][-1]["content"].startswith("Error: Invalid arguments for read_file: path:")
    assert "file: Extra inputs are not permitted" in sent[1][-1]["content"]
    assert sent[2][-1]["content"].startswith("Error: The arguments of read_file are not valid JSON")
    assert sent[3][-1]["content"].startswith("def add")


async def test_an_unknown_tool_is_answered_with_the_list_of_tools(agent: AgentHarness) -> None:
    agent.queue(call("run_shell", {"cmd": "ls"}), submit("x"))
    assert (await agent.invoke(instruction="x")).json()["agent_status"] == "completed"
    answer = sent_messages(agent.upstream)[1][-1]["content"]
    assert answer == (
        "Error: There is no tool 'run_shell'; the tools are: submit_code, ask_human_for_input."
    )


async def test_the_step_limit_ends_the_run_with_a_clear_error(
    make_agent: Callable[..., AgentHarness], project: Path
) -> None:
    agent = make_agent(config(max_steps=3))
    agent.queue(*(call("search_files", {"query": f"q{i}"}) for i in range(5)))
    body = (await agent.invoke(instruction="loop", project_directory=str(project))).json()
    assert body["agent_status"] == "error"
    assert "step limit (3 model calls)" in body["error_details"]
    assert len(agent.upstream.received()) == 3
    state = agent.store.state(body["thread_id"])
    assert state.messages[-1]["role"] == "tool"  # every call answered before stopping


async def test_the_same_call_with_the_same_result_three_times_is_stuck(
    agent: AgentHarness, project: Path
) -> None:
    agent.queue(*(call("read_file", {"path": "src/calc.py"}) for _ in range(4)))
    body = (await agent.invoke(instruction="read", project_directory=str(project))).json()
    assert body["agent_status"] == "error"
    assert body["error_details"] == (
        "The agent is stuck: it called read_file with the same arguments 3 times and got the "
        "same result each time."
    )
    assert len(agent.upstream.received()) == 3
    again = await agent.resume(thread_id=body["thread_id"])
    assert again.status_code == 200 and again.json() == body  # a new instruction is needed
    assert len(agent.upstream.received()) == 3


async def test_the_token_budget_ends_the_run(
    make_agent: Callable[..., AgentHarness], project: Path
) -> None:
    agent = make_agent(config(token_budget=30))
    agent.queue(*(call("search_files", {"query": f"q{i}"}) for i in range(3)))
    body = (await agent.invoke(instruction="go", project_directory=str(project))).json()
    assert body["agent_status"] == "error"
    assert "token budget (36 of 30 tokens)" in body["error_details"]


async def test_a_provider_failure_mid_run_keeps_the_thread_and_a_resume_finishes_it(
    agent: AgentHarness, project: Path
) -> None:
    failure = {"status": 500, "body": {"error": {"message": "boom"}}}
    agent.queue(call("list_files", {}), failure)
    agent.queue(failure, provider="cerebras")
    body = (await agent.invoke(instruction="go", project_directory=str(project))).json()
    assert body["agent_status"] == "error"
    assert body["error_details"].startswith("The model call failed: All 2 attempts failed")
    state = agent.store.state(body["thread_id"])
    assert state.status == "error" and state.error is not None and state.error.resumable
    assert [m["role"] for m in state.messages] == ["system", "user", "assistant", "tool"]

    agent.queue(submit("done"))
    resumed = (await agent.resume(thread_id=body["thread_id"])).json()
    assert resumed["agent_status"] == "completed"
    assert resumed["generated_code"] == "done"
    last_request = sent_messages(agent.upstream)[-1]
    assert last_request == state.messages


async def test_the_wall_clock_budget_checkpoints_in_progress_and_resume_goes_on(
    make_agent: Callable[..., AgentHarness], project: Path
) -> None:
    agent = make_agent(config(wall_seconds=0.3))
    agent.queue(call("list_files", {}, sleep=0.4), submit("late"))
    body = (await agent.invoke(instruction="slow", project_directory=str(project))).json()
    assert body["agent_status"] == "in_progress"
    assert "resume the thread" in body["explanation"]
    assert len(agent.upstream.received()) == 1
    done = (await agent.resume(thread_id=body["thread_id"])).json()
    assert done["agent_status"] == "completed" and done["generated_code"] == "late"


async def test_long_tool_output_keeps_its_head_and_tail(
    make_agent: Callable[..., AgentHarness], project: Path
) -> None:
    agent = make_agent(config(tool_output_chars=300))
    (project / "big.txt").write_text("HEAD" + "x" * 5000 + "TAIL")
    agent.queue(call("read_file", {"path": "big.txt"}), submit("ok"))
    await agent.invoke(instruction="read", project_directory=str(project))
    answer = sent_messages(agent.upstream)[1][-1]["content"]
    assert answer.startswith("HEAD") and answer.endswith("TAIL")
    assert "[... 4708 characters omitted ...]" in answer
    assert len(answer) < 400


async def test_confirm_writes_asks_with_the_diff_and_a_refusal_leaves_the_file(
    agent: AgentHarness, project: Path
) -> None:
    path = project / "src" / "calc.py"
    fixed = "def add(a, b):\n    return a + b\n"
    agent.queue(call("write_file", {"path": "src/calc.py", "content": fixed}))
    paused = (
        await agent.invoke(instruction="fix", project_directory=str(project), confirm_writes=True)
    ).json()
    assert paused["agent_status"] == "requires_human_input"
    question = paused["human_input_request"]["question_for_human"]
    assert "-    return a - b\n+    return a + b\n" in question
    assert question.startswith("The agent wants to change src/calc.py:")

    agent.queue(submit("unchanged"))
    tool_call_id = paused["human_input_request"]["tool_call_id"]
    await agent.resume(
        thread_id=paused["thread_id"], tool_call_id=tool_call_id, human_response="No, keep it"
    )
    assert path.read_text().endswith("a - b\n")
    refusal = sent_messages(agent.upstream)[-1][-1]["content"]
    assert refusal == "The user did not allow this. Their answer: No, keep it"


async def test_confirm_writes_writes_once_the_user_agrees(
    agent: AgentHarness, project: Path
) -> None:
    agent.queue(call("write_file", {"path": "new/mod.py", "content": "X = 1\n"}), submit("X"))
    paused = (
        await agent.invoke(instruction="new", project_directory=str(project), confirm_writes=True)
    ).json()
    question = paused["human_input_request"]["question_for_human"]
    assert question.startswith("The agent wants to create new/mod.py:")
    assert not (project / "new").exists()
    done = await agent.resume(
        thread_id=paused["thread_id"],
        tool_call_id=paused["human_input_request"]["tool_call_id"],
        human_response="yes",
    )
    assert done.json()["agent_status"] == "completed"
    assert (project / "new" / "mod.py").read_text() == "X = 1\n"


async def test_server_calls_after_a_pause_wait_for_its_answer(
    agent: AgentHarness, project: Path
) -> None:
    agent.queue(
        calls(
            ("ask_human_for_input", {"question": "May I?"}),
            ("write_file", {"path": "after.txt", "content": "written"}),
        ),
        submit("ok"),
    )
    paused = (await agent.invoke(instruction="x", project_directory=str(project))).json()
    assert paused["agent_status"] == "requires_human_input"
    assert not (project / "after.txt").exists()
    await agent.resume(
        thread_id=paused["thread_id"],
        tool_call_id=paused["human_input_request"]["tool_call_id"],
        human_response="go",
    )
    assert (project / "after.txt").read_text() == "written"
    contents = [m["content"] for m in sent_messages(agent.upstream)[-1][-2:]]
    assert contents == ["go", "Wrote 7 characters to after.txt."]


async def test_a_new_instruction_on_a_thread_keeps_its_history_and_restarts_the_bounds(
    make_agent: Callable[..., AgentHarness],
) -> None:
    agent = make_agent(config(max_steps=1))
    agent.queue(text("```py\nA = 1\n```"))
    first = (await agent.invoke(instruction="make A")).json()
    agent.queue(text("```py\nA = 2\n```"))
    second = (await agent.invoke(instruction="now 2", thread_id=first["thread_id"])).json()
    assert second["thread_id"] == first["thread_id"]
    assert second["agent_status"] == "completed" and second["generated_code"] == "A = 2"
    assert second["request_params"] == {"instruction": "now 2", "thread_id": first["thread_id"]}
    roles = [m["role"] for m in sent_messages(agent.upstream)[-1]]
    assert roles == ["system", "user", "assistant", "user"]


async def test_a_new_instruction_answers_the_open_question_as_not_run(
    agent: AgentHarness,
) -> None:
    agent.queue(call("ask_human_for_input", {"question": "?"}))
    paused = (await agent.invoke(instruction="a")).json()
    agent.queue(text("fine"))
    done = (await agent.invoke(instruction="b instead", thread_id=paused["thread_id"])).json()
    assert done["agent_status"] == "completed"
    sent = sent_messages(agent.upstream)[-1]
    assert sent[-2]["content"] == "Not run: the user gave a new instruction instead."
    assert sent[-1]["content"] == "b instead"


async def test_client_calls_and_a_question_in_one_message_pause_in_turn(
    make_agent: Callable[..., AgentHarness],
) -> None:
    agent = make_agent()
    agent.queue(
        calls(
            ("read_file", {"path": "a.py"}),
            ("ask_human_for_input", {"question": "Keep a.py?"}),
            ("list_files", {}),
        ),
        submit("ok"),
    )
    first = (await agent.invoke(instruction="x", project_directory="/not/here")).json()
    assert first["agent_status"] == "requires_client_tools"
    assert [p["function"]["name"] for p in first["pending_tool_calls"]] == ["read_file"]
    read_id = first["pending_tool_calls"][0]["id"]
    results = [{"tool_call_id": read_id, "output": {"lines": 1}}]
    second = (await agent.resume(thread_id=first["thread_id"], tool_results=results)).json()
    assert second["agent_status"] == "requires_human_input"
    assert second["human_input_request"]["question_for_human"] == "Keep a.py?"
    third = (
        await agent.resume(
            thread_id=first["thread_id"],
            tool_call_id=second["human_input_request"]["tool_call_id"],
            human_response="yes",
        )
    ).json()
    assert third["agent_status"] == "requires_client_tools"
    list_id = third["pending_tool_calls"][0]["id"]
    results = [{"tool_call_id": list_id, "output": "a.py"}]
    done = (await agent.resume(thread_id=first["thread_id"], tool_results=results)).json()
    assert done["agent_status"] == "completed"
    answered = sent_messages(agent.upstream)[-1][-3:]
    assert [m["content"] for m in answered] == ['{"lines":1}', "yes", "a.py"]
    assert len(agent.upstream.received()) == 2
