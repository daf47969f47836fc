"""The files of the web page at ``/ui`` (``static/``): plain HTML, CSS and JavaScript with no
build step, the libraries vendored from npm at pinned versions (``vendor.sh``).

They are read once into memory: the whole page is a few hundred kilobytes, and a warm Lambda
then serves it without touching the disk.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
# Explicit, not guessed from the system's mime.types: a module script must be JavaScript.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",  # text: the Lambda entry tells Mangum so (no base64 body)
}
VENDOR = "vendor/"  # versioned folders (name-version/): their files never change


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str
    immutable: bool


def read_assets(root: Path) -> dict[str, Asset]:
    """Every servable file under ``root`` by its relative path; other files (licences, maps)
    are not served."""
    assets: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_file():
            continue
        name = path.relative_to(root).as_posix()
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        assets[name] = Asset(body, media_type, etag, name.startswith(VENDOR))
    return assets


@functools.cache
def assets() -> dict[str, Asset]:
    return read_assets(STATIC)
