"""A local Ollama server: OpenAI's format at ``127.0.0.1:11434/v1``, no key (``OLLAMA_API_KEY``
is sent if set), no limits. It counts as configured only while it answers: the runtime asks
its model list at start and discovery asks again (``ProviderSpec.probe``), so a machine
without it, and every test, never routes to it. Every model it lists is local, so free.
"""

from __future__ import annotations

import re

from llm_agg.providers.listing import ListedModel
from llm_agg.providers.model_lists import openai_models
from llm_agg.providers.spec import ProviderSpec

_EMBEDDING = re.compile(r"embed", re.IGNORECASE)


def parse_models(body: bytes) -> list[ListedModel]:
    return [
        ListedModel(id=m.id, created=m.created, free=True, chat=not _EMBEDDING.search(m.id))
        for m in openai_models(body)
    ]


SPEC = ProviderSpec(
    name="ollama",
    base_url="http://127.0.0.1:11434/v1",
    key_required=False,
    probe=True,
    parse_models=parse_models,
    rate_limit_headers="none",
    timeout=300.0,  # a local model on a CPU can take minutes
)
