from __future__ import annotations

import pytest

from llm_agg.providers.accounts import env_accounts
from llm_agg.providers.registry import BUILTIN, build_registry, env_prefix

NAMES = {
    *("openrouter", "groq", "cerebras", "together", "anthropic", "cohere"),
    *("gemini", "mistral", "codestral", "github", "nvidia", "cloudflare", "huggingface"),
    "ollama",
}


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
    declared = {
        "my-llama": {
            "base_url": "http://127.0.0.1:11434/v1",
            "drop": ["seed"],
            "key_required": False,
        }
    }
    specs = build_registry(declared, {"MY_LLAMA_BASE_URL": "http://127.0.0.1:9999/v1"})
    spec = specs["my-llama"]
    assert spec.kind == "openai" and not spec.key_required
    assert spec.chat_url == "http://127.0.0.1:9999/v1/chat/completions"
    assert spec.fate("seed") == "drop" and spec.fate("temperature") == "forward"
    assert env_prefix("my-llama") == "MY_LLAMA"
    accounts = env_accounts(specs.values(), {"GROQ_API_KEY": "k"})
    found = {(a.provider, a.api_key) for a in accounts if not specs[a.provider].probe}
    assert found == {("groq", "k"), ("my-llama", None)}


def test_a_yaml_provider_needs_a_key_as_a_builtin_one_does() -> None:
    specs = build_registry({"hosted": {"base_url": "https://llm.example/v1"}}, {})
    assert specs["hosted"].key_required == BUILTIN["groq"].key_required is True
    assert specs["hosted"].headers_for("k") == {"authorization": "Bearer k"}
    assert [a for a in env_accounts(specs.values(), {}) if a.provider == "hosted"] == []
    (account,) = [a for a in env_accounts([specs["hosted"]], {"HOSTED_API_KEY": "k"})]
    assert (account.provider, account.api_key) == ("hosted", "k")


def test_a_yaml_provider_of_a_native_kind_authenticates_as_that_kind() -> None:
    specs = build_registry({"proxy": {"base_url": "https://p.example", "kind": "anthropic"}}, {})
    assert specs["proxy"].headers_for("k")["x-api-key"] == "k"
    assert specs["proxy"].fate("n") == "refuse"


@pytest.mark.parametrize(
    "entry",
    [
        {"base_url": "ftp://x"},
        {"base_url": "http://x", "kind": "soap"},
        {"base_url": "http://x", "rate_limit_headers": "weird"},
        {"base_url": "http://x", "quota_groups": {"env": "a|b"}},
    ],
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


@pytest.mark.parametrize(
    ("provider", "environ", "key"),
    [
        ("gemini", {"GEMINI_API_KEY": "g1", "GOOGLE_API_KEY": "g2"}, "g1"),
        ("gemini", {"GOOGLE_API_KEY": "g2"}, "g2"),
        ("github", {"GITHUB_API_KEY": "ghp"}, "ghp"),
        ("github", {"GITHUB_TOKEN": "gho", "GITHUB_API_KEY": "ghp"}, "gho"),
        ("huggingface", {"HUGGINGFACE_API_KEY": "hf_b"}, "hf_b"),
        ("huggingface", {"HF_TOKEN": "hf_a"}, "hf_a"),
        ("mistral", {"MISTRAL_API_KEY": "m"}, "m"),
        ("codestral", {"CODESTRAL_API_KEY": "c"}, "c"),
        ("nvidia", {"NVIDIA_API_KEY": "nvapi-x"}, "nvapi-x"),
    ],
)
def test_each_provider_reads_its_key_variables_first_one_set_wins(
    provider: str, environ: dict[str, str], key: str
) -> None:
    accounts = {a.provider: a for a in env_accounts(build_registry({}, environ).values(), environ)}
    assert accounts[provider].api_key == key


def test_cloudflare_needs_its_account_id_in_the_url_before_it_is_configured() -> None:
    keyed = {"CLOUDFLARE_API_KEY": "cf"}
    specs = build_registry({}, keyed)
    assert specs["cloudflare"].unresolved == ["CLOUDFLARE_ACCOUNT_ID"]
    assert "cloudflare" not in {a.provider for a in env_accounts(specs.values(), keyed)}
    environ = {**keyed, "CLOUDFLARE_ACCOUNT_ID": "abc123"}
    spec = build_registry({}, environ)["cloudflare"]
    assert spec.chat_url == (
        "https://api.cloudflare.com/client/v4/accounts/abc123/ai/v1/chat/completions"
    )
    assert spec.models_url.startswith(
        "https://api.cloudflare.com/client/v4/accounts/abc123/ai/models/search?"
    )
    assert "cloudflare" in {a.provider for a in env_accounts([spec], environ)}
    assert "CLOUDFLARE_API_KEY and CLOUDFLARE_ACCOUNT_ID" in spec.setup_hint


def test_github_lists_its_models_from_its_catalog_beside_the_inference_path() -> None:
    spec = build_registry({}, {"GITHUB_BASE_URL": "http://127.0.0.1:9100/inference"})["github"]
    assert spec.chat_url == "http://127.0.0.1:9100/inference/chat/completions"
    assert spec.models_url == "http://127.0.0.1:9100/catalog/models"


def test_ollama_needs_no_key_but_sends_one_if_set() -> None:
    spec = BUILTIN["ollama"]
    assert not spec.key_required and spec.probe
    (account,) = [a for a in env_accounts([spec], {}) if a.provider == "ollama"]
    assert account.api_key is None
    (keyed,) = env_accounts([spec], {"OLLAMA_API_KEY": "o"})
    assert spec.headers_for(keyed.api_key) == {"authorization": "Bearer o"}


def test_quota_scope_says_whose_quota_a_key_spends() -> None:
    specs = build_registry({"groq": {"quota_groups": {"a2": "org-1", "env": "org-1"}}}, {})
    assert specs["groq"].quota_holder("env") == specs["groq"].quota_holder("a2") == "org-1"
    assert specs["groq"].quota_holder("a3") == "a3"  # alone in its organisation
    assert BUILTIN["cerebras"].quota_holder("a2") == "a2"  # per key
    gemini = BUILTIN["gemini"]
    assert gemini.quota_scope == "project"
    assert gemini.quota_holder("env") == gemini.quota_holder("work")  # AI Studio's default
    named = build_registry({"gemini": {"quota_groups": {"work": "proj-2"}}}, {})["gemini"]
    assert named.quota_holder("work") == "proj-2" != named.quota_holder("env")
