"""Tools a model may call: declared with ``@openhands_tool``, collected by a ``ToolRegistry``.

The registry reads a tool's parameters from its signature (``Annotated[..., Field(...)]`` for
descriptions and bounds), builds the JSON schema the model sees with pydantic, and validates the
model's arguments before anything runs. A parameter annotated ``ToolContext`` is not shown to
the model: the agent passes it in. Where a tool runs — on the server, on the client, or by
asking the human — is part of its declaration.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal, get_type_hints

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from llm_agg.agent.sandbox import Sandbox, SandboxError

log = logging.getLogger("llm_agg.agent.tools")

Runs = Literal["server", "client", "human"]
Risk = Literal["low", "medium", "high"]
_ATTRIBUTE = "__openhands_tool__"


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


class ToolArgumentError(ToolError):
    """The model's arguments do not fit the tool's parameters."""


@dataclass(frozen=True)
class ToolContext:
    """What the agent hands a server-side tool."""

    sandbox: Sandbox | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    risk: Risk
    runs: Runs
    func: Callable[..., Any]
    arguments: type[BaseModel]
    context_param: str | None

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        parameters = _untitled(self.arguments.model_json_schema())
        parameters.setdefault("properties", {})
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": parameters,
            },
        }

    def on(self, runs: Runs) -> ToolSpec:
        return replace(self, runs=runs)

    def validate(self, arguments: str | None) -> BaseModel:
        """The parsed arguments, or ``ToolArgumentError`` telling the model what to fix."""
        try:
            data = orjson.loads(arguments) if arguments and arguments.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise ToolArgumentError(
                f"The arguments of {self.name} are not valid JSON: {exc}."
            ) from None
        if not isinstance(data, dict):
            raise ToolArgumentError(f"The arguments of {self.name} must be a JSON object.")
        try:
            return self.arguments.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ToolArgumentError(
                f"Invalid arguments for {self.name}: {problems}. Call it again with arguments "
                f"matching its parameters."
            ) from None

    async def run(self, context: ToolContext, arguments: BaseModel) -> str:
        """Run the tool; a failure comes back as text for the model, never as an exception."""
        kwargs = {name: getattr(arguments, name) for name in type(arguments).model_fields}
        if self.context_param:
            kwargs[self.context_param] = context
        try:
            if inspect.iscoroutinefunction(self.func):
                result = await self.func(**kwargs)
            else:  # file tools block: keep them off the event loop
                result = await asyncio.to_thread(self.func, **kwargs)
        except (ToolError, SandboxError) as exc:
            return f"Error: {exc}"
        except OSError as exc:
            return f"Error: {exc.strerror or type(exc).__name__}."
        except Exception as exc:
            log.warning("tool %s failed: %s", self.name, type(exc).__name__, exc_info=exc)
            return f"Error: {self.name} failed ({type(exc).__name__})."
        return result if isinstance(result, str) else orjson.dumps(result).decode()


def _untitled(schema: Any) -> Any:
    # pydantic titles every object and property; they only cost the model tokens.
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


def _spec(
    func: Callable[..., Any], name: str, description: str, risk: Risk, runs: Runs
) -> ToolSpec:
    hints = get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(func).parameters.values():
        hint = hints.get(param.name, Any)
        if hint is ToolContext:
            context_param = param.name
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hint, default)
    arguments = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    return ToolSpec(name, description, risk, runs, func, arguments, context_param)


def openhands_tool(
    *, name: str | None = None, description: str | None = None, risk: Risk = "low", runs: Runs
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a function as a tool; its docstring is the description unless one is given."""

    def declare(func: Callable[..., Any]) -> Callable[..., Any]:
        text = description or inspect.cleandoc(func.__doc__ or "")
        if not text:
            raise TypeError(f"tool {func.__name__} needs a description or a docstring")
        setattr(func, _ATTRIBUTE, _spec(func, name or func.__name__, text, risk, runs))
        return func

    return declare


def tool_spec(tool: ToolSpec | Callable[..., Any]) -> ToolSpec:
    if isinstance(tool, ToolSpec):
        return tool
    spec = getattr(tool, _ATTRIBUTE, None)
    if not isinstance(spec, ToolSpec):
        raise TypeError(f"{tool!r} is not declared with @openhands_tool")
    return spec


class ToolRegistry:
    def __init__(self, tools: Iterable[ToolSpec | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, ToolSpec] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: ToolSpec | Callable[..., Any]) -> None:
        spec = tool_spec(tool)
        if spec.name in self._tools:
            raise ValueError(f"two tools are named {spec.name!r}")
        self._tools[spec.name] = spec

    def get(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._tools.values())

    def schemas(self) -> list[dict[str, Any]]:
        return [spec.schema() for spec in self._tools.values()]

    def lookup(self, name: str) -> ToolSpec:
        spec = self._tools.get(name)
        if spec is None:
            known = ", ".join(self._tools)
            raise ToolArgumentError(f"There is no tool {name!r}; the tools are: {known}.")
        return spec
