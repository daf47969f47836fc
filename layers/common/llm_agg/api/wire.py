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
from typing import Annotated

from pydantic import AfterValidator, Field

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


def _wire_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError("must be printable ASCII without spaces or control characters")
    return value


# A client-given id that may come back in a response header.
WireId = Annotated[str, Field(min_length=1, max_length=MAX_ID), AfterValidator(_wire_id)]


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise ``ValueError`` (naming the header, never its value) unless all can be sent."""
    for name, value in headers.items():
        if not header_name_ok(name):
            raise ValueError("a header name cannot be sent")
        if not header_value_ok(value):
            raise ValueError(f"the value of header {name[:64]!r} cannot be sent")
