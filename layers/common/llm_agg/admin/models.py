"""The bodies the admin API accepts. Strict: a wrong type is refused, not coerced.

Validation messages never hold the submitted values, so a key sent in the wrong field is not
echoed back.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llm_agg.api.wire import header_name_ok, header_value_ok

# Users name accounts after the e-mail they opened them with (account1@example.com): the id
# travels in URL paths and store keys, so it keeps to characters neither needs to escape.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
_KEY = re.compile(r"[\x21-\x7e]{8,4096}")  # printable ASCII, no spaces (fullmatch: no "\n")
MAX_HEADER_NAME = 64
MAX_HEADER_VALUE = 1024
# The gateway sets these itself; an account may not replace them.
RESERVED_HEADERS = frozenset(
    {"authorization", "x-api-key", "content-type", "content-length", "host", "connection",
     "transfer-encoding"}
)  # fmt: skip
MAX_HEADERS = 20


def account_id_problem(value: str) -> str | None:
    """What is wrong with an account id, or None: said before anything else is asked."""
    if value == "env":
        return "'env' names the account of the <PROVIDER>_API_KEY variable"
    if not _ACCOUNT_ID.fullmatch(value):
        return (
            "an account id is 1 to 128 letters, digits, '.', '_', '-', '@' or '+', beginning "
            "with a letter or digit (e.g. work, account1@example.com)"
        )
    return None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CredentialIn(_Body):
    provider: Annotated[str, Field(min_length=1, max_length=64)]
    account_id: str
    api_key: str
    additional_headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    verify: bool = False

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        problem = account_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("api_key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not _KEY.fullmatch(value):
            raise ValueError("a key is 8 to 4096 printable characters without spaces")
        return value

    @field_validator("additional_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        for name, content in value.items():
            if not header_name_ok(name) or len(name) > MAX_HEADER_NAME:
                raise ValueError(f"a header name is a token of {MAX_HEADER_NAME} chars at most")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"the gateway sets '{name}' itself")
            if not header_value_ok(content) or len(content) > MAX_HEADER_VALUE:
                raise ValueError(
                    f"the value of '{name}' must be printable ASCII (no control characters, no "
                    f"space at either end) of at most {MAX_HEADER_VALUE} characters"
                )
        return value


class CredentialPatch(_Body):
    enabled: bool


class KeyIn(_Body):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    expires_at: Annotated[int, Field(gt=0)] | None = None  # epoch seconds
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    requests_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    tokens_per_day: Annotated[int, Field(ge=1, le=10**12)] | None = None

    @model_validator(mode="after")
    def _one_expiry(self) -> KeyIn:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give expires_at or expires_in_days, not both")
        return self
