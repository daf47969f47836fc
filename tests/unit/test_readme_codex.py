"""The README's Codex config is one Codex accepts and points at a route the gateway serves."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The fields of a `[model_providers.<id>]` table, as Codex reads them (openai/codex,
# codex-rs/model-provider-info/src/lib.rs `ModelProviderInfo`, schemars(deny_unknown_fields));
# `wire_api` takes only "responses" there, and "chat" is refused with an error.
CODEX_PROVIDER_FIELDS = {
    "name",
    "base_url",
    "env_key",
    "env_key_instructions",
    "experimental_bearer_token",
    "auth",
    "aws",
    "wire_api",
    "query_params",
    "http_headers",
    "env_http_headers",
    "request_max_retries",
    "stream_max_retries",
    "stream_idle_timeout_ms",
    "websocket_connect_timeout_ms",
    "requires_openai_auth",
    "supports_websockets",
}


def _codex_config() -> dict[str, object]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    configs = [tomllib.loads(b) for b in blocks if "model_providers" in b]
    assert len(configs) == 1, "one Codex config.toml in the README"
    return configs[0]


def test_the_readme_codex_provider_uses_only_fields_codex_knows() -> None:
    config = _codex_config()
    providers = config["model_providers"]
    assert isinstance(providers, dict)
    provider = providers[config["model_provider"]]
    assert set(provider) <= CODEX_PROVIDER_FIELDS
    assert provider["wire_api"] == "responses"
    assert provider["env_key"] and provider["supports_websockets"] is False
    # Codex posts to base_url + "/responses": the gateway's route.
    assert provider["base_url"].endswith("/v1")
    # Codex sends OpenAI's hosted web_search tool unless told not to; the gateway refuses it.
    assert config["web_search"] == "disabled"
