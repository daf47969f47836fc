"""The providers' recorded and documented wire formats, read byte for byte.

They live in ``tests/fixtures/<provider>/`` (each folder's README cites every file's source);
this module is the one place that knows where.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
FIXTURES = TESTS_DIR / "fixtures"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


def headers(name: str) -> dict[str, str]:
    """A recorded ``HTTP/1.1 ...`` header block as a dict with lower-case names."""
    lines = raw(name).decode().splitlines()
    pairs = (line.partition(":") for line in lines[1:] if ":" in line)
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


def sse_events(name: str) -> list[bytes]:
    """A recorded stream cut into its events (each ending in a blank line)."""
    return [block + b"\n\n" for block in raw(name).split(b"\n\n") if block.strip()]
