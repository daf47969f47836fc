from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fixtures import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ROOT.parent / "shared"


def _refuse_outside_reads(event: str, args: tuple[object, ...]) -> None:
    """A user's clone has nothing beside it: a test that opens the project's sibling folders
    (the team's shared/ notes) would pass here and fail there, so it fails here too."""
    if event == "open" and isinstance(args[0], str | Path):
        path = Path(args[0]) if Path(args[0]).is_absolute() else Path.cwd() / args[0]
        if OUTSIDE in path.parents or path == OUTSIDE:
            raise AssertionError(f"tests must not read outside the repository: {path}")


sys.addaudithook(_refuse_outside_reads)


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
