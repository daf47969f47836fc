"""The layer's requirements.txt (what SAM installs) and pyproject (what make install does) agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_layer_requirement_is_pinned_identically_in_pyproject() -> None:
    lines = (ROOT / "layers/common/requirements.txt").read_text().splitlines()
    layer = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    project = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert all("==" in requirement for requirement in layer)
    assert layer <= project, layer - project
