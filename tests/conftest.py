from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


@pytest.fixture
def fixture_bytes() -> object:
    def read(relative: str) -> bytes:
        return (FIXTURES / relative).read_bytes()

    return read


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """HOME in a temporary folder: a Settings() made without a data dir must never read or
    write the developer's own ~/.local/share/llm-agg (their real keys live there)."""
    saved = {name: os.environ.get(name) for name in ("HOME", "LLM_AGG_DATA_DIR")}
    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    os.environ.pop("LLM_AGG_DATA_DIR", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
