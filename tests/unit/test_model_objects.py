"""What ``GET /v1/models`` lists: the providers' own lists with the catalog's facts."""

from __future__ import annotations

from llm_agg.providers.listing import ListedModel
from llm_agg.routing.catalog import ModelInfo
from llm_agg.routing.model_objects import model_listing


def test_listing_merges_provider_lists_with_catalog_facts():
    catalog = [
        ModelInfo(
            "anthropic", "a-1", context=100, max_output=10, capabilities=frozenset({"tools"})
        ),
        ModelInfo("anthropic", "a-old"),
        ModelInfo("groq", "g-1", context=300),
        ModelInfo("cohere", "c-1"),
    ]
    listed = {"anthropic": [ListedModel("a-1", created=5), ListedModel("a-new", context=42)]}
    data = model_listing(catalog, ["groq", "anthropic"], listed)
    assert data == [
        {
            "id": "anthropic/a-1",
            "object": "model",
            "created": 5,
            "owned_by": "anthropic",
            "context_window": 100,
            "max_output_tokens": 10,
            "capabilities": ["tools"],
            "free": True,
        },
        {
            "id": "anthropic/a-new",
            "object": "model",
            "created": 0,
            "owned_by": "anthropic",
            "context_window": 42,
        },
        {
            "id": "groq/g-1",
            "object": "model",
            "created": 0,
            "owned_by": "groq",
            "context_window": 300,
            "max_output_tokens": 4096,
            "capabilities": [],
            "free": True,
        },
    ]
