from __future__ import annotations

import orjson
import pytest

from llm_agg.providers.base import MalformedResponse
from llm_agg.providers.kinds import lister_for
from llm_agg.providers.listing import ListedModel
from llm_agg.providers.model_lists import (
    openai_models,
    openrouter_models,
    together_models,
)
from llm_agg.providers.registry import BUILTIN
from llm_agg.routing.discovery import merge
from tests.support.fixtures import raw
from tests.support.routing import catalog


def test_groq_list_gives_context_and_output_limits() -> None:
    models = {m.id: m for m in openai_models(raw("groq/models_list.json"))}
    assert models["llama-3.3-70b-versatile"].context == 131072
    assert models["llama-3.3-70b-versatile"].max_output == 32768
    assert models["openai/gpt-oss-20b"].created == 1754407957


def test_inactive_groq_models_are_not_listed() -> None:
    body = orjson.dumps({"data": [{"id": "a", "active": False}, {"id": "b", "active": True}]})
    assert [m.id for m in openai_models(body)] == ["b"]


def test_cerebras_list_is_ids_only() -> None:
    models = openai_models(raw("cerebras/models_list.json"))
    assert [m.id for m in models] == ["llama3.1-8b", "gpt-oss-120b"]
    assert models[0].context is None and models[0].free is None


def test_together_bare_array_marks_free_models_by_suffix_or_zero_price() -> None:
    models = {m.id: m for m in together_models(raw("together/models_list.json"))}
    assert models["meta-llama/Llama-3.3-70B-Instruct-Turbo-Free"].free is True
    assert models["meta-llama/Llama-3.3-70B-Instruct-Turbo"].free is False
    assert models["meta-llama/Llama-3.3-70B-Instruct-Turbo"].chat is True
    assert models["meta-llama/Llama-3.3-70B-Instruct-Turbo"].context == 131072


def test_together_image_models_are_not_chat_models() -> None:
    body = orjson.dumps([{"id": "flux", "type": "image", "pricing": {"input": 0, "output": 0}}])
    assert together_models(body)[0].chat is False


def test_openrouter_free_by_suffix_or_zero_pricing_with_capabilities() -> None:
    (paid,) = openrouter_models(raw("openrouter/models_list.json"))
    assert (paid.id, paid.free, paid.context, paid.max_output) == (
        "openai/gpt-4",
        False,
        8192,
        4096,
    )
    body = orjson.dumps(
        {
            "data": [
                {"id": "x/y:free", "pricing": {"prompt": "0.1"}},
                {
                    "id": "x/zero",
                    "pricing": {"prompt": "0", "completion": "0", "request": "0", "image": "0"},
                    "architecture": {
                        "input_modalities": ["text", "image"],
                        "output_modalities": ["text"],
                    },
                    "supported_parameters": ["tools", "response_format", "reasoning", "top_k"],
                },
            ]
        }
    )
    suffixed, zero = openrouter_models(body)
    assert suffixed.free is True
    assert zero.free is True
    assert zero.capabilities == frozenset({"tools", "json", "reasoning", "vision"})


@pytest.mark.parametrize("body", [b"not json", b'{"data": 3}', b"[]"])
def test_unreadable_lists_raise_or_come_back_empty(body: bytes) -> None:
    if body == b"[]":
        assert together_models(body) == []
        return
    with pytest.raises(MalformedResponse):
        openai_models(body)


CATALOG = catalog(
    """
providers:
  groq:
    models:
      - {id: stays, quality: 4}
      - {id: retired, quality: 5}
  openrouter:
    models:
      - {id: "known:free", quality: 4}
  cerebras:
    models:
      - {id: unlisted}
"""
)


def test_vanished_models_stop_being_routed_and_new_free_ones_join() -> None:
    listed = {
        "groq": [
            ListedModel("stays"),
            ListedModel("brand-new"),
        ],  # groq's list says nothing of free
        "openrouter": [
            ListedModel("known:free", free=True, chat=True),
            ListedModel(
                "fresh:free", context=65536, free=True, chat=True, capabilities=frozenset({"tools"})
            ),
            ListedModel("paid", free=False, chat=True),
            ListedModel("painter:free", free=True, chat=False),
        ],
    }
    view, vanished = merge(CATALOG, listed)
    ids = [f"{m.provider}/{m.id}" for m in view.models]
    assert vanished == ["groq/retired"]
    assert ids == [
        "groq/stays",
        "openrouter/known:free",
        "cerebras/unlisted",
        "openrouter/fresh:free",
    ]
    fresh = view.model("openrouter", "fresh:free")
    assert fresh is not None and (fresh.context, fresh.quality, fresh.capabilities) == (
        65536,
        2,
        {"tools"},
    )
    assert view.rules == CATALOG.rules


def test_openai_compatible_providers_list_with_their_key_and_parser() -> None:
    request = lister_for(BUILTIN["groq"]).models_request(BUILTIN["groq"], "gsk_secret")
    assert request.url == "https://api.groq.com/openai/v1/models"
    assert request.headers["authorization"] == "Bearer gsk_secret"
    assert lister_for(BUILTIN["together"]).parse_models is together_models
    assert lister_for(BUILTIN["openrouter"]).parse_models is openrouter_models
    assert lister_for(BUILTIN["cerebras"]).parse_models is openai_models


def test_a_list_naming_none_of_the_catalogs_models_is_not_believed() -> None:
    view, vanished = merge(CATALOG, {"groq": [ListedModel("something-else")]})
    assert vanished == []
    assert view.models == CATALOG.models
