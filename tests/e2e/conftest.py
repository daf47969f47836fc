from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import FakeUpstream, Process, start_fake_upstream, start_gateway


@pytest.fixture(scope="session")
def e2e_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def fake(e2e_tmp: Path) -> Iterator[FakeUpstream]:
    upstream = start_fake_upstream(e2e_tmp)
    yield upstream
    upstream.process.stop()


@pytest.fixture(autouse=True)
def _fresh_fake(request: pytest.FixtureRequest) -> None:
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()


@pytest.fixture(scope="session")
def gateway(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    """A gateway with groq and cerebras both pointing at the fake upstream."""
    process = start_gateway(e2e_tmp, fake.provider_env("e2e_test_key"))
    yield process
    process.stop()
