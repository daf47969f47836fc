"""A small client of a running gateway (local or deployed), for the CLI commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from llm_agg.providers.sse import SSEParser

DEFAULT_URL = "http://127.0.0.1:8000"


class GatewayClientError(Exception):
    """An error the gateway answered with, or could not be reached; the message says which,
    ``status`` is the HTTP status of an answer (None when there was none)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"{error.get('message')} (HTTP {response.status_code})"
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


class GatewayClient:
    def __init__(self, url: str | None = None, api_key: str | None = None) -> None:
        self.url = (url or os.environ.get("LLM_AGG_URL") or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get("LLM_AGG_API_KEY")
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=300.0)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayClientError(f"cannot reach {self.url}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise GatewayClientError(_message(response), response.status_code)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params).json()

    def chat(self, body: dict[str, Any]) -> tuple[dict[str, Any], httpx.Headers]:
        response = self._send("POST", "/v1/chat/completions", json=body)
        return response.json(), response.headers

    def chat_stream(self, body: dict[str, Any]) -> Iterator[dict[str, Any] | httpx.Headers]:
        """The response headers first, then each chunk; an error event raises."""
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise GatewayClientError(_message(response), response.status_code)
                yield response.headers
                parser = SSEParser()
                for raw in response.iter_raw():
                    for event in parser.feed(raw):
                        if event.data == b"[DONE]":
                            return
                        chunk = orjson.loads(event.data)
                        if "error" in chunk:
                            raise GatewayClientError(chunk["error"].get("message", "stream error"))
                        yield chunk
        except httpx.HTTPError as exc:
            raise GatewayClientError(f"cannot reach {self.url}: {type(exc).__name__}") from None
