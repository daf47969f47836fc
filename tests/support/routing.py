"""Building requests and catalogs for routing tests."""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from llm_agg.api.chat import ChatCall, parse_chat
from llm_agg.routing.catalog import Catalog, parse_catalog


def chat(text: str = "Hello", **fields: Any) -> ChatCall:
    body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    body.update(fields)
    return parse_chat(orjson.dumps(body))


def catalog(text: str) -> Catalog:
    return parse_catalog(yaml.safe_load(text))


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
