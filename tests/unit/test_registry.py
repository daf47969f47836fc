from __future__ import annotations

import pytest

from llm_agg.providers.accounts import env_accounts
from llm_agg.providers.registry import BUILTIN, build_registry, env_prefix

NAMES = {"openrouter", "groq", "cerebras", "together", "anthropic", "cohere"}


def test_the_contract_provider_names_are_built_in() -> None:
    assert set(BUILTIN) == NAMES


def test_base_urls_are_overridden_from_the_environment() -> None:
    specs = build_registry({}, {"GROQ_BASE_URL": "http://127.0.0.1:9100/v1/"})
    assert specs["groq"].chat_url == "http://127.0.0.1:9100/v1/chat/completions"
    assert specs["cerebras"].chat_url == "https://api.cerebras.ai/v1/chat/completions"


def test_yaml_headers_are_added_to_a_builtin_provider() -> None:
    specs = build_registry({"openrouter": {"headers": {"X-Title": "My app"}}}, {})
    assert specs["openrouter"].headers == {"X-Title": "My app"}


def test_a_custom_openai_compatible_server_is_one_yaml_entry() -> None:
    declared = {"my-llama": {"base_url": "http://127.0.0.1:11434/v1", "drop": ["seed"]}}
    specs = build_registry(declared, {"MY_LLAMA_BASE_URL": "http://127.0.0.1:9999/v1"})
    spec = specs["my-llama"]
    assert spec.kind == "openai" and not spec.key_required
    assert spec.chat_url == "http://127.0.0.1:9999/v1/chat/completions"
    assert spec.fate("seed") == "drop" and spec.fate("temperature") == "forward"
    assert env_prefix("my-llama") == "MY_LLAMA"
    accounts = env_accounts(specs.values(), {"GROQ_API_KEY": "k"})
    assert {(a.provider, a.api_key) for a in accounts} == {("groq", "k"), ("my-llama", None)}


@pytest.mark.parametrize(
    "entry",
    [{"base_url": "ftp://x"}, {"base_url": "http://x", "kind": "soap"}],
)
def test_a_wrong_custom_provider_is_refused_with_its_name(entry: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="custom"):
        build_registry({"custom": entry}, {})


def test_groq_and_cerebras_fates_follow_their_docs() -> None:
    groq, cerebras = BUILTIN["groq"], BUILTIN["cerebras"]
    assert groq.fate("logprobs") == "drop" and groq.fate("n") == "refuse"
    assert groq.refusal_for({"n": 2}) and not groq.refusal_for({"n": 1})
    assert cerebras.refusal_for({"tool_choice": {"type": "function", "function": {"name": "f"}}})
    assert not cerebras.refusal_for({"tool_choice": "auto"})
