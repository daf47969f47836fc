from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


@pytest.fixture
def fixture_bytes() -> object:
    def read(relative: str) -> bytes:
        return (FIXTURES / relative).read_bytes()

    return read
