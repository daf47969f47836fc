"""The tool registry: schemas from signatures, arguments validated before anything runs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from pydantic import Field

from llm_agg.agent.tools import (
    ToolArgumentError,
    ToolContext,
    ToolError,
    ToolRegistry,
    openhands_tool,
    tool_spec,
)
from llm_agg.agent.toolset import registry_for


@openhands_tool(runs="server", risk="medium")
def rename(
    context: ToolContext,
    source: Annotated[str, Field(description="The file to rename.")],
    target: str,
    overwrite: bool = False,
    depth: Annotated[int, Field(ge=1, le=3)] = 1,
) -> str:
    """Rename a file."""
    if source == target:
        raise ToolError("source and target are the same")
    if source == "crash":
        raise RuntimeError("secret internals")
    if source == "io":
        raise PermissionError(13, "Permission denied", "/srv/private/path")
    return f"{source}->{target} overwrite={overwrite} depth={depth} ctx={context.sandbox}"


@openhands_tool(name="shout", description="Shout it.", runs="client")
async def loud(text: str) -> dict[str, Any]:
    return {"text": text.upper()}


def test_the_schema_comes_from_the_signature_without_the_context() -> None:
    spec = tool_spec(rename)
    assert (spec.name, spec.risk, spec.runs) == ("rename", "medium", "server")
    assert spec.schema() == {
        "type": "function",
        "function": {
            "name": "rename",
            "description": "Rename a file.",
            "parameters": {
                "type": "object",
                "properties": {
                    "source": {"type": "string", "description": "The file to rename."},
                    "target": {"type": "string"},
                    "overwrite": {"type": "boolean", "default": False},
                    "depth": {"type": "integer", "default": 1, "minimum": 1, "maximum": 3},
                },
                "required": ["source", "target"],
                "additionalProperties": False,
            },
        },
    }


def test_a_name_and_description_may_be_given_and_a_parameterless_schema_is_an_object() -> None:
    @openhands_tool(description="Nothing.", runs="server")
    def noop() -> str:
        return ""

    assert tool_spec(loud).name == "shout" and tool_spec(loud).description == "Shout it."
    parameters = tool_spec(noop).schema()["function"]["parameters"]
    assert parameters["type"] == "object" and parameters["properties"] == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"source": "a"}', "Invalid arguments for rename: target: Field required."),
        ('{"source": "a", "target": "b", "mode": 1}', "mode: Extra inputs are not permitted"),
        ('{"source": "a", "target": "b", "depth": 9}', "depth: Input should be less than or"),
        ('{"source": ["a"], "target": "b"}', "source: Input should be a valid string"),
        ('{"source": "a",', "The arguments of rename are not valid JSON"),
        ('["a", "b"]', "The arguments of rename must be a JSON object."),
    ],
)
def test_invalid_arguments_are_refused_with_a_message_for_the_model(
    arguments: str, message: str
) -> None:
    with pytest.raises(ToolArgumentError) as caught:
        tool_spec(rename).validate(arguments)
    assert message in str(caught.value)


def test_empty_arguments_are_an_empty_object() -> None:
    with pytest.raises(ToolArgumentError, match="source: Field required"):
        tool_spec(rename).validate("")


def test_a_tool_runs_with_its_context_and_validated_arguments() -> None:
    spec = tool_spec(rename)
    args = spec.validate('{"source": "a", "target": "b", "depth": "2"}')
    result = asyncio.run(spec.run(ToolContext(), args))
    assert result == "a->b overwrite=False depth=2 ctx=None"


def test_tool_failures_come_back_as_text_without_internals() -> None:
    spec = tool_spec(rename)

    def run(source: str) -> str:
        args = spec.validate(f'{{"source": "{source}", "target": "a"}}')
        return asyncio.run(spec.run(ToolContext(), args))

    assert run("a") == "Error: source and target are the same"
    assert run("crash") == "Error: rename failed (RuntimeError)."
    assert run("io") == "Error: Permission denied."


def test_an_async_tool_returning_data_answers_json() -> None:
    spec = tool_spec(loud)
    assert asyncio.run(spec.run(ToolContext(), spec.validate('{"text": "hi"}'))) == '{"text":"HI"}'


def test_the_registry_refuses_duplicates_and_unknown_names() -> None:
    registry = ToolRegistry([rename, loud])
    assert [s.name for s in registry] == ["rename", "shout"] and "shout" in registry
    with pytest.raises(ValueError, match="two tools are named 'rename'"):
        registry.add(rename)
    with pytest.raises(ToolArgumentError, match="There is no tool 'rm'; the tools are: rename"):
        registry.lookup("rm")
    with pytest.raises(TypeError, match="not declared with @openhands_tool"):
        ToolRegistry([print])


def test_a_tool_needs_a_description() -> None:
    with pytest.raises(TypeError, match="needs a description"):

        @openhands_tool(runs="server")
        def bare() -> str:
            return ""


def test_file_tools_run_where_the_project_is() -> None:
    assert [s.name for s in registry_for(None)] == ["submit_code", "ask_human_for_input"]
    server = {s.name: s.runs for s in registry_for("server")}
    client = {s.name: s.runs for s in registry_for("client")}
    assert server["read_file"] == "server" and client["read_file"] == "client"
    assert client["write_file"] == "client" and client["ask_human_for_input"] == "human"
    assert client["submit_code"] == "server"
    assert tool_spec(rename).runs == "server"  # handing a tool to the client copies it
