"""How one route is described, and the OpenAPI 3.1 document assembled from such entries.

A route is one ``Operation``: its method and path, who may call it, the body it reads (a
pydantic model, whose schema is then published, or a schema name) and what it answers by
status. Statuses listed in ``errors`` answer the OpenAI-shaped ``Error`` (or the route's
``error_schema``: an Anthropic-compatible route answers Anthropic's shape).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from llm_agg.openapi.schemas import REF, Schema, ref

Auth = Literal["gateway", "admin", "none"]
JSON = "application/json"
SSE = "text/event-stream"

_REASONS = {
    400: "The request is malformed or no model can take it as it is.",
    401: "A key is missing, unknown, deleted or expired.",
    403: "This key may not do this.",
    404: "Unknown model, provider, account, thread or record.",
    409: "A concurrent change won; read again and retry.",
    413: "The body is too large.",
    405: "This method is not served on this path.",
    408: "The body stopped arriving.",
    415: "The body is not `application/json`.",
    426: "A WebSocket upgrade: this server speaks HTTP only.",
    429: "Rate-limited or out of quota; `Retry-After` says when to come back.",
    502: "Every attempt at a provider failed; the message lists them.",
    503: "Nothing to serve it: no provider configured, or the store or key service is down.",
    504: "Every attempt timed out.",
}
_HEADERS = {
    429: {
        "Retry-After": {
            "description": "Seconds until a retry can work.",
            "schema": {"type": "string"},
        }
    },
}


@dataclass(frozen=True)
class Answer:
    """A successful answer: its schema's name ("" for none), and optionally a stream too."""

    schema: str
    description: str = "OK"
    stream: str | None = None  # schema name of the text/event-stream answer
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description
    media: str = JSON


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query"]
    schema: Schema
    description: str = ""
    example: Any = None


@dataclass(frozen=True)
class Operation:
    method: Literal["get", "post", "patch", "delete"]
    path: str
    summary: str
    tag: str
    auth: Auth
    answers: Mapping[int, Answer]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | str | None = None
    params: tuple[Param, ...] = ()
    description: str = ""
    examples: Mapping[str, Any] = field(default_factory=dict)  # request bodies, by name
    error_schema: str = "Error"  # what the error statuses answer (another API's shape, say)


def _schema_name(body: type[BaseModel] | str) -> str:
    return body if isinstance(body, str) else body.__name__


def _answer(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.schema:  # "" for an answer without a body (304)
        content: dict[str, Any] = {answer.media: {"schema": ref(answer.schema)}}
        if answer.stream is not None:
            content[SSE] = {"schema": ref(answer.stream)}
        out["content"] = content
    if answer.headers:
        out["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in answer.headers.items()
        }
    return out


def _error(status: int, schema: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": _REASONS.get(status, "An error."),
        "content": {JSON: {"schema": ref(schema)}},
    }
    if status in _HEADERS:
        out["headers"] = _HEADERS[status]
    return out


_SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    # An open loopback server takes /v1 calls without a key; any other server needs one.
    "gateway": [{"gatewayKey": []}, {}],
    "admin": [{"adminKey": []}],
    "none": [],
}


def operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": f"{op.method}{op.path}".replace("/", "_").replace("{", "").replace("}", ""),
        "summary": op.summary,
        "tags": [op.tag],
        "security": _SECURITY[op.auth],
        "responses": {
            **{str(s): _answer(a) for s, a in sorted(op.answers.items())},
            **{str(s): _error(s, op.error_schema) for s in sorted(op.errors)},
        },
    }
    if op.description:
        out["description"] = op.description
    if op.params:
        out["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "schema": p.schema,
                **({"description": p.description} if p.description else {}),
                **({"example": p.example} if p.example is not None else {}),
            }
            for p in op.params
        ]
    if op.body is not None:
        media: dict[str, Any] = {"schema": ref(_schema_name(op.body))}
        if op.examples:
            media["examples"] = {name: {"value": v} for name, v in op.examples.items()}
        out["requestBody"] = {"required": True, "content": {JSON: media}}
    return out


def model_schemas(models: Iterable[tuple[type[BaseModel], str]]) -> dict[str, Schema]:
    """The JSON schemas of pydantic models and of everything they nest, by name."""
    pairs = list(dict.fromkeys(models))
    if not pairs:
        return {}
    _, defs = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
    made: dict[str, Schema] = defs.get("$defs", {})
    return made


def document(
    operations: Iterable[Operation],
    written: Mapping[str, Schema],
    response_models: Iterable[type[BaseModel]],
    version: str,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``, with every schema they name."""
    ops = list(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        assert op.method not in paths.get(op.path, {}), f"{op.method} {op.path} twice"
        paths.setdefault(op.path, {})[op.method] = operation(op)
    bodies = [(op.body, "validation") for op in ops if isinstance(op.body, type)]
    answers = [(m, "serialization") for m in response_models]
    made = model_schemas([*bodies, *answers])
    clash = made.keys() & written.keys()
    assert not clash, f"schema names used twice: {clash}"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LLM API Aggregator",
            "version": version,
            "description": "One OpenAI-compatible endpoint in front of the free tiers of many "
            "LLM providers, its coding agent, and its admin API. Errors are OpenAI-shaped "
            "(Anthropic-shaped on /v1/messages). On any route, the open local server answers "
            "421 to a Host that is not its own loopback name and 403 to a foreign Origin; a "
            "body that stops arriving is a 408.",
        },
        # Relative to where this document is served, so it holds under an API Gateway stage.
        "servers": [{"url": "."}],
        "paths": paths,
        "components": {
            "schemas": {**made, **written},
            "securitySchemes": {
                "gatewayKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A gateway key (`sk-llmagg-…`), made with POST /admin/keys. "
                    "Not needed by an open server bound only to loopback.",
                },
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin key (LLM_AGG_ADMIN_KEY).",
                },
            },
        },
    }
