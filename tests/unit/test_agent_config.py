"""The agent's settings from the environment: bounds, and where the server may touch files."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_agg.agent.config import DAY, AgentConfig, unrestricted_warning


def test_defaults_are_the_documented_bounds() -> None:
    config = AgentConfig.from_env({})
    assert (config.max_steps, config.token_budget, config.wall_seconds) == (12, 200_000, 300.0)
    assert config.thread_ttl == 7 * DAY
    assert config.roots is None  # an open local server reaches any directory it can see


def test_bounds_and_roots_come_from_the_environment() -> None:
    config = AgentConfig.from_env(
        {
            "LLM_AGG_AGENT_MAX_STEPS": "4",
            "LLM_AGG_AGENT_TOKEN_BUDGET": "1000",
            "LLM_AGG_AGENT_WALL_SECONDS": "2.5",
            "LLM_AGG_AGENT_THREAD_TTL_DAYS": "1",
            "LLM_AGG_AGENT_ROOTS": "/srv/a:/srv/b:",
        }
    )
    assert (config.max_steps, config.token_budget, config.wall_seconds) == (4, 1000, 2.5)
    assert config.thread_ttl == DAY
    assert config.roots == (Path("/srv/a"), Path("/srv/b"))


def test_on_lambda_no_directory_is_reachable_unless_roots_are_given() -> None:
    assert AgentConfig.from_env({"AWS_LAMBDA_FUNCTION_NAME": "agent"}).roots == ()
    lambda_with_roots = {"AWS_LAMBDA_FUNCTION_NAME": "agent", "LLM_AGG_AGENT_ROOTS": "/mnt/efs"}
    assert AgentConfig.from_env(lambda_with_roots).roots == (Path("/mnt/efs"),)


@pytest.mark.parametrize("value", ["many", "0", "-3"])
def test_a_bad_bound_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="LLM_AGG_AGENT_MAX_STEPS"):
        AgentConfig.from_env({"LLM_AGG_AGENT_MAX_STEPS": value})


def test_a_keyed_server_reaches_no_directory_unless_roots_are_given() -> None:
    assert AgentConfig.from_env({}, keyed=True).roots == ()
    given = AgentConfig.from_env({"LLM_AGG_AGENT_ROOTS": "/srv/projects"}, keyed=True)
    assert given.roots == (Path("/srv/projects"),)


def test_serve_is_warned_when_file_tools_are_unrestricted() -> None:
    assert "LLM_AGG_AGENT_ROOTS" in (unrestricted_warning(AgentConfig.from_env({})) or "")
    everything = AgentConfig.from_env({"LLM_AGG_AGENT_ROOTS": "/"}, keyed=True)
    assert "'/'" in (unrestricted_warning(everything) or "")
    assert unrestricted_warning(AgentConfig.from_env({}, keyed=True)) is None
    assert unrestricted_warning(AgentConfig.from_env({"LLM_AGG_AGENT_ROOTS": "/srv/p"})) is None
