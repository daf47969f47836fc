"""The layer's catalog read at build time, so that a cold start reads it without PyYAML.

Importing PyYAML and parsing ``providers.yaml`` cost ~13 ms of every Lambda cold start for a file
that never changes once the layer is built. ``make code`` (layers/common/Makefile) runs this
module on the layer's ``llm_agg/providers.yaml``: it writes ``llm_agg/providers.json``, the
file's SHA-256 beside what it reads as. ``load_catalog`` takes that for a file whose text has the
same hash, whatever its path, and reads any other file (a user's own catalog, a source checkout
without the JSON) with PyYAML, as before. A mismatch can only cost time, never a wrong catalog.

This module imports nothing beyond the standard library at the top: the layer is built on a
machine of another architecture, where only PyYAML's pure-Python parser loads.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

# Beside llm_agg/providers.yaml (the layer's copy of config/providers.yaml).
PREBUILT = Path(__file__).parent.parent / "providers.json"
ABSENT: Any = object()  # no prebuilt form for this text


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read(text: str) -> Any:
    """What ``text`` reads as, from the prebuilt file if it was built from this very text;
    else ``ABSENT``."""
    try:
        built = json.loads(PREBUILT.read_bytes())
    except FileNotFoundError:
        return ABSENT
    return built["catalog"] if built["sha256"] == digest(text) else ABSENT


def build(source: Path, target: Path) -> bool:
    """Write ``target`` from the YAML file ``source``; False (nothing written) when what it
    reads as would not come back from JSON exactly as PyYAML reads it (a date, say)."""
    import yaml  # the build's: on another architecture, its pure-Python parser

    text = source.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    try:
        written = json.dumps({"sha256": digest(text), "catalog": data}, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    if not _same(json.loads(written)["catalog"], data):
        return False
    target.write_text(written, encoding="utf-8")
    return True


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (``True == 1`` and ``1 == 1.0`` in
    Python, not in a catalog)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


if __name__ == "__main__":  # python -m llm_agg.routing.prebuilt providers.yaml providers.json
    source, target = map(Path, sys.argv[1:3])
    if not build(source, target):
        print(f"{source}: not written as JSON; the layer reads it with PyYAML", file=sys.stderr)
