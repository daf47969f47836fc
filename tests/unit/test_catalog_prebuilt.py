"""The layer's catalog read at build time (llm_agg/routing/prebuilt.py): taken only for the very
text it was built from, and equal to what PyYAML reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llm_agg.routing import prebuilt
from llm_agg.routing.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config/providers.yaml"


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "providers.json"
    monkeypatch.setattr(prebuilt, "PREBUILT", target)
    return target


def test_the_shipped_catalog_prebuilt_reads_as_pyyaml_reads_it(built: Path) -> None:
    assert prebuilt.build(SHIPPED, built)
    text = SHIPPED.read_text(encoding="utf-8")
    assert prebuilt.read(text) == yaml.safe_load(text)
    assert load_catalog(SHIPPED) == load_catalog_without_prebuilt(SHIPPED)


def load_catalog_without_prebuilt(path: Path) -> object:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prebuilt, "PREBUILT", path.parent / "absent.json")
        return load_catalog(path)


def test_a_catalog_other_than_the_one_built_is_read_from_its_yaml(
    built: Path, tmp_path: Path
) -> None:
    assert prebuilt.build(SHIPPED, built)
    mine = tmp_path / "mine.yaml"
    mine.write_text(SHIPPED.read_text(encoding="utf-8") + "checked: '2027-01-01'\n")
    assert prebuilt.read(mine.read_text(encoding="utf-8")) is prebuilt.ABSENT
    assert load_catalog(mine).checked == "2027-01-01"  # YAML's last key wins


def test_the_prebuilt_file_is_what_load_catalog_reads_for_its_text(
    built: Path, tmp_path: Path
) -> None:
    # Proof that the JSON, not the YAML, is read: a prebuilt file whose content differs.
    source = tmp_path / "providers.yaml"
    source.write_text("checked: '2026-01-01'\n")
    digest = prebuilt.digest(source.read_text(encoding="utf-8"))
    built.write_text(json.dumps({"sha256": digest, "catalog": {"checked": "from-json"}}))
    assert load_catalog(source).checked == "from-json"


@pytest.mark.parametrize(
    "text",
    [
        "checked: 2026-12-06\n",  # a date: JSON would give back a string
        "quota_groups: {1: org}\n",  # an int key: JSON would give back "1"
        "max: .nan\n",  # NaN is not equal to itself
    ],
)
def test_nothing_is_prebuilt_that_json_would_not_give_back_exactly(
    built: Path, tmp_path: Path, text: str
) -> None:
    source = tmp_path / "providers.yaml"
    source.write_text(text)
    assert not prebuilt.build(source, built)
    assert not built.exists()
    assert prebuilt.read(text) is prebuilt.ABSENT


def test_types_survive_the_prebuilt_form(built: Path, tmp_path: Path) -> None:
    source = tmp_path / "providers.yaml"
    source.write_text("a: {b: [1, 1.0, true, null, x]}\n")
    assert prebuilt.build(source, built)
    assert [type(v) for v in prebuilt.read(source.read_text())["a"]["b"]] == [
        int,
        float,
        bool,
        type(None),
        str,
    ]
