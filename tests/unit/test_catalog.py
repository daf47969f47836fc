from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llm_agg.routing.catalog import CatalogError, load_catalog, read_yaml
from tests.support.routing import catalog

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_catalog_loads_with_rules_limits_and_date() -> None:
    shipped = load_catalog(ROOT / "config/providers.yaml")
    providers = {m.provider for m in shipped.models}
    assert providers == {
        *("groq", "cerebras", "openrouter", "together", "anthropic", "cohere"),
        *("gemini", "mistral", "codestral", "github", "nvidia", "cloudflare", "huggingface"),
    }
    assert shipped.checked == "2026-12-06"
    assert [r.name for r in shipped.rules] == ["code", "reasoning", "long_documents"]
    assert shipped.account_limits["openrouter"] == {"rpm": 20, "rpd": 50}
    free = [m for m in shipped.models if m.free]
    assert all(m.id.endswith(":free") for m in free if m.provider == "openrouter")
    # Together's free tier ended in October 2025; Anthropic never had one.
    assert not any(m.free for m in shipped.models if m.provider in ("together", "anthropic"))
    # GitHub Models' free tier takes at most 8,000 tokens a request: its context, here.
    assert {m.context for m in shipped.for_provider("github")} == {8000}
    groq = {m.id: m for m in shipped.for_provider("groq")}
    assert groq["llama-3.3-70b-versatile"].limits == {
        "rpm": 30,
        "rpd": 1000,
        "tpm": 12000,
        "tpd": 100000,
    }


def test_qualities_can_be_tuned_in_the_file() -> None:
    tuned = catalog("defaults: {model_quality: fastest, qualities: {fastest: {speed: 9}}}")
    assert tuned.default_quality == "fastest"
    assert tuned.qualities["fastest"].speed == 9
    assert tuned.qualities["fastest"].quality == 1  # the rest keeps its default


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("providers: {groq: {models: [{id: m, limits: {rpx: 3}}]}}", "unknown limits"),
        ("providers: {groq: {models: [{id: m, limits: {rpm: -1}}]}}", "positive"),
        ("providers: {groq: {models: [{id: m, tasks: [poetry]}]}}", "tasks"),
        ("providers: {groq: {limits: {rpm: x}}}", "providers.groq.limits"),
        ("defaults: {model_quality: cheapest}", "model_quality"),
        ("routing_rules: [{conditions: {task: code}}]", "needs a 'name'"),
        ("routing_rules: [{name: r, conditions: {task: poetry}}]", "task"),
        ("routing_rules: [{name: r, conditions: {needs: [telepathy]}}]", "needs"),
        ("routing_rules: [{name: r, conditions: {colour: red}}]", "unknown conditions"),
        ("routing_rules: [{name: r, fallback_chain: [nowhere]}]", "unknown providers"),
        ("routing_rules: [{name: r, fallback_chain: [groq/ghost]}]", "no such models"),
        ("routing_rules: [{name: r, min_context: 5}]", "unknown keys"),
    ],
)
def test_malformed_catalog_says_where(text: str, where: str) -> None:
    with pytest.raises(CatalogError, match=where):
        catalog(text)


def test_load_catalog_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text("routing_rules: 3\n")
    with pytest.raises(CatalogError, match=str(path)):
        load_catalog(path)


def test_every_catalog_reads_as_pyyamls_own_parser_reads_it() -> None:
    for path in [ROOT / "config/providers.yaml", *sorted((ROOT / "tests").rglob("*.yaml"))]:
        text = path.read_text(encoding="utf-8")
        assert read_yaml(text) == yaml.safe_load(text), path


def test_unreadable_yaml_is_reported_by_pyyamls_parser_with_the_line_shown(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text("providers: {groq: 1\n")
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert str(path) in str(raised.value)
    assert "providers: {groq: 1" in str(raised.value)  # the line, with a caret under it
