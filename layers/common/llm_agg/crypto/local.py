"""The local keyring: data keys wrapped with AES-256-GCM under a master key kept in a 0600
file of the data dir, made on first run (``secret_file``)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from llm_agg.crypto.envelope import NONCE_BYTES, Context, DecryptionFailed, associated_data
from llm_agg.crypto.secret_file import read_or_create

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_FILE = "master.key"


class LocalKeyring:
    """Opened with every SQLite store; its cipher (and cryptography, ~7 MB) is made by the first
    secret sealed or opened, which a gateway whose keys are all in its environment never has."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._key = master_key
        self._cipher: AESGCM | None = None

    @property
    def _master(self) -> AESGCM:
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._cipher = AESGCM(self._key)
        return self._cipher

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> LocalKeyring:
        key, _ = read_or_create(data_dir / MASTER_KEY_FILE, lambda: secrets.token_bytes(32))
        return cls(key)

    def generate(self, context: Context) -> tuple[bytes, bytes]:
        data_key = secrets.token_bytes(32)  # as AESGCM.generate_key(bit_length=256) makes it
        nonce = os.urandom(NONCE_BYTES)
        return data_key, nonce + self._master.encrypt(nonce, data_key, associated_data(context))

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        from cryptography.exceptions import InvalidTag

        nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return self._master.decrypt(nonce, body, associated_data(context))
        except InvalidTag:
            raise DecryptionFailed("the data key does not open with this master key") from None
