"""A secret kept in a file of the data dir (mode 0600), made on first use: the local keyring's
master key, the local server's admin key. No cryptography here: the server reads its admin key
at start without loading it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The content of the secret file ``path``, made with ``make()`` (mode 0600) if missing.
    Returns (content, created). Safe when several processes start at once: the file appears
    whole or not at all (written aside, then hard-linked into place)."""
    try:
        content = path.read_bytes()
        if content:
            return content, False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, make())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(aside, path)
        created = True
    except FileExistsError:
        created = False  # another process won the race: use its file
    finally:
        os.unlink(aside)
    return path.read_bytes(), created
