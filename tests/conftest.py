from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx.mocks

from tests.support.fixtures import FIXTURES
from tests.support.respx_upstream import UpstreamMocker

# Every respx router (``respx.mock``, the ``respx_mock`` fixture) mocks the gateway's upstream
# transport as well as httpcore: see tests/support/respx_upstream.py.
respx.mocks.DEFAULT_MOCKER = UpstreamMocker.name

ROOT = Path(__file__).resolve().parents[1]
BESIDE = ROOT.parent
# A clone straight in the temporary folder or the home folder shares its parent with what
# tests and libraries legitimately open: the guard below is off there.
_GUARDED = all(
    top != BESIDE and BESIDE not in top.parents
    for top in (Path(tempfile.gettempdir()).resolve(), Path.home().resolve())
)


def _refuse_reads_beside(event: str, args: tuple[object, ...]) -> None:
    """A user's clone has nothing beside it: a test that opens a sibling of the repository
    (the team's notes, another checkout) would pass here and fail there, so it fails here."""
    if event == "open" and isinstance(args[0], str | Path):
        path = Path(args[0]) if Path(args[0]).is_absolute() else Path.cwd() / args[0]
        if BESIDE in path.parents and path != ROOT and ROOT not in path.parents:
            raise AssertionError(f"tests must not read beside the repository: {path}")


if _GUARDED:
    sys.addaudithook(_refuse_reads_beside)


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
