"""What may go into an HTTP header, checked where a value enters the gateway.

A value that reaches a header unchecked fails late and badly: a non-ASCII byte makes httpx
raise while building the upstream request (a 500), a CR/LF in a response header breaks the
connection after the upstream call was made and paid for. So values bound for headers (an
account's ``additional_headers``, its key, the client's model id that comes back in
``x-llm-agg-model``) are held to printable ASCII at the edge, where a 400 can say why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler
from pydantic_core import core_schema

# RFC 9110 token: header names.
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# Visible ASCII, with inner spaces or tabs only: what h11 and httptools accept as a value.
_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?")
# A model or provider id: visible ASCII, no spaces (ids never have them).
_ID = re.compile(r"[\x21-\x7e]+")

MAX_ID = 256


def header_name_ok(name: str) -> bool:
    return bool(_TOKEN.fullmatch(name))


def header_value_ok(value: str) -> bool:
    return bool(_VALUE.fullmatch(value))


class _Printable:
    """``_ID`` checked by pydantic-core's own regex, failing as a ``ValueError`` raised in an
    ``AfterValidator`` would ("Value error, must be printable ..."): the same 400, without a
    call back into Python on every request (it named the model of each chat request)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        printable = core_schema.str_schema(pattern=rf"^{_ID.pattern}$")
        return core_schema.chain_schema(
            [
                handler(source),  # the string and its length, failing as they do
                core_schema.custom_error_schema(
                    printable,
                    custom_error_type="value_error",
                    custom_error_context={"error": _NOT_PRINTABLE},
                ),
            ]
        )


_NOT_PRINTABLE = "must be printable ASCII without spaces or control characters"

# A client-given id that may come back in a response header.
WireId = Annotated[str, Field(min_length=1, max_length=MAX_ID), _Printable]


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise ``ValueError`` (naming the header, never its value) unless all can be sent."""
    for name, value in headers.items():
        if not header_name_ok(name):
            raise ValueError("a header name cannot be sent")
        if not header_value_ok(value):
            raise ValueError(f"the value of header {name[:64]!r} cannot be sent")
