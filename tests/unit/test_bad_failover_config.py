"""A failover setting that cannot work is a clear error at start (``llm-agg serve`` and
``route --explain``), not a surprise on the first request."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_agg.routing.catalog import CatalogError, parse_catalog
from llm_agg.settings import Settings
from llm_agg_local import router_cli
from llm_agg_local.serve import _check_config

SIMPLE = {"providers": {"groq": {"models": [{"id": "m"}]}}}


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_an_attempt_budget_that_is_not_a_count_above_zero_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="LLM_AGG_MAX_ATTEMPTS"):
        Settings.from_env({"LLM_AGG_MAX_ATTEMPTS": value})


def test_the_budget_and_deadline_come_from_the_environment() -> None:
    settings = Settings.from_env({"LLM_AGG_MAX_ATTEMPTS": "9", "LLM_AGG_DEADLINE": "30"})
    assert (settings.max_attempts, settings.deadline) == (9, 30.0)


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"defaults": {"max_attempts": 0}}, "defaults.max_attempts"),
        ({"defaults": {"max_attempts": "many"}}, "defaults.max_attempts"),
        ({"providers": {"groq": {"timeout": -5}}}, "providers.groq.timeout"),
        ({"providers": {"groq": {"timeout": "soon"}}}, "providers.groq.timeout"),
    ],
)
def test_a_catalog_budget_or_timeout_below_one_says_where(entry: dict, where: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(CatalogError, match=where):
        parse_catalog({**SIMPLE, **entry})


def test_the_catalog_may_set_the_budget() -> None:
    assert parse_catalog({**SIMPLE, "defaults": {"max_attempts": 8}}).max_attempts == 8


def test_an_unknown_provider_in_a_chain_is_refused() -> None:
    rules = [{"name": "ha", "fallback_chain": ["groq", "grok"]}]
    with pytest.raises(CatalogError, match="grok"):
        parse_catalog({**SIMPLE, "routing_rules": rules})


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, **env: str) -> None:
    config = tmp_path / "providers.yaml"
    config.write_text(text)
    monkeypatch.setenv("LLM_AGG_CONFIG", str(config))
    monkeypatch.setenv("LLM_AGG_DATA_DIR", str(tmp_path / "data"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_serve_refuses_to_start_with_a_negative_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _env(monkeypatch, tmp_path, "providers:\n  groq: {timeout: -1}\n")
    problem, _ = _check_config()
    assert problem is not None and "providers.groq.timeout" in problem


def test_serve_and_route_refuse_a_budget_of_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path, "providers: {}\n", LLM_AGG_MAX_ATTEMPTS="0")
    problem, _ = _check_config()
    assert problem is not None and "LLM_AGG_MAX_ATTEMPTS" in problem
    parser = __import__("llm_agg_local.cli", fromlist=["_parser"])._parser()
    args = parser.parse_args(["route", "--explain", "hello"])
    assert router_cli._route(args) == 2
    assert "LLM_AGG_MAX_ATTEMPTS must be a whole number above 0" in capsys.readouterr().err
