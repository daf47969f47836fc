"""An upstream that compresses its answer (it was offered ``Accept-Encoding: gzip, deflate``,
httpx's default): the client still gets the answer, a stream's events and its ``[DONE]``."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import httpx
import orjson
import pytest
import respx

from tests.functional.conftest import GROQ

pytestmark = pytest.mark.anyio

Read = Callable[[str], bytes]
ASK = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
ENCODE = {"gzip": gzip.compress, "deflate": zlib.compress}


def encoded(body: bytes, encoding: str, content_type: str) -> httpx.Response:
    headers = {"content-type": content_type, "content-encoding": encoding}
    return httpx.Response(200, content=ENCODE[encoding](body), headers=headers)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@respx.mock
async def test_a_compressed_stream_is_relayed_decoded(
    client: httpx.AsyncClient, fixture_bytes: Read, encoding: str
) -> None:
    sent = respx.post(GROQ).mock(
        return_value=encoded(fixture_bytes("groq/stream_text.sse"), encoding, "text/event-stream")
    )
    response = await client.post("/v1/chat/completions", json={**ASK, "stream": True})
    assert response.status_code == 200
    assert response.headers["x-llm-agg-provider"] == "groq"
    assert "content-encoding" not in response.headers
    blocks = [b for b in response.text.split("\n\n") if b.startswith("data: ")]
    assert blocks[-1] == "data: [DONE]"
    assert any(orjson.loads(b[6:])["choices"] for b in blocks[:-1])
    assert sent.calls[0].request.headers["accept-encoding"] == "gzip, deflate"


@respx.mock
async def test_a_compressed_answer_is_relayed_decoded(
    client: httpx.AsyncClient, fixture_bytes: Read
) -> None:
    body = fixture_bytes("groq/response_text.json")
    respx.post(GROQ).mock(return_value=encoded(body, "gzip", "application/json"))
    response = await client.post("/v1/chat/completions", json=ASK)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]
