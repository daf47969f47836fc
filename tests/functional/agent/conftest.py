"""Fixtures of the agent's functional tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from llm_agg.agent.config import AgentConfig
from llm_agg.apps.agent import create_agent_app
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from tests.e2e.harness import FakeUpstream, start_fake_upstream
from tests.functional.agent.support import CATALOG, AgentHarness, MemoryCheckpoints
from tests.support.runtimes import runtime_of


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    fake = start_fake_upstream(tmp_path_factory.mktemp("agent-upstream"))
    yield fake
    fake.process.stop()


@pytest.fixture
async def make_agent(
    upstream: FakeUpstream, tmp_path: Path
) -> AsyncIterator[Callable[..., AgentHarness]]:
    """An agent app over ASGI whose model calls go to the fake upstream over loopback."""
    upstream.reset()
    made: list[AgentHarness] = []

    def make(
        config: AgentConfig | None = None,
        store: MemoryCheckpoints | None = None,
        require_auth: bool = False,
        from_env: bool = False,
        **env: str,
    ) -> AgentHarness:
        """``from_env``: the app reads its agent config as a server does (roots included)."""
        environ = {
            "GROQ_API_KEY": "gsk_agent_0001",
            "GROQ_BASE_URL": upstream.base_url("groq"),
            "CEREBRAS_API_KEY": "csk_agent_0002",
            "CEREBRAS_BASE_URL": upstream.base_url("cerebras"),
            **env,
        }
        settings = Settings(
            config_path=CATALOG,
            data_dir=tmp_path / "data",
            environ=environ,
            require_auth=require_auth,
        )
        checkpoints = store or MemoryCheckpoints()

        async def opener() -> MemoryCheckpoints:
            return checkpoints

        app = create_agent_app(
            Runtime(settings), opener, None if from_env else (config or AgentConfig())
        )
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        harness = AgentHarness(client, checkpoints, upstream, settings, runtime_of(app))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.client.aclose()
        await harness.runtime.aclose()


@pytest.fixture
def agent(make_agent: Callable[..., AgentHarness]) -> AgentHarness:
    return make_agent()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    return root
