"""The local keyring: data keys wrapped with AES-256-GCM under a master key kept in a 0600
file of the data dir, made on first run."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llm_agg.crypto.envelope import NONCE_BYTES, Context, DecryptionFailed, associated_data

MASTER_KEY_FILE = "master.key"


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


class LocalKeyring:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._master = AESGCM(master_key)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> LocalKeyring:
        key, _ = read_or_create(data_dir / MASTER_KEY_FILE, lambda: secrets.token_bytes(32))
        return cls(key)

    def generate(self, context: Context) -> tuple[bytes, bytes]:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        return data_key, nonce + self._master.encrypt(nonce, data_key, associated_data(context))

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return self._master.decrypt(nonce, body, associated_data(context))
        except InvalidTag:
            raise DecryptionFailed("the data key does not open with this master key") from None
