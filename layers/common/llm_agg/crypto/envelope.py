"""Sealing a secret: AES-256-GCM under a fresh data key, the data key wrapped by a keyring.

The encryption context (``{provider, account_id}``) is both the keyring's context and the
AES associated data: a sealed blob copied onto another account's row does not open.

    sealed = 0x01 | len(wrapped) (2 bytes, big-endian) | wrapped | nonce (12) | ciphertext+tag
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from typing import Protocol

import orjson

Context = Mapping[str, str]
VERSION = 1
NONCE_BYTES = 12


class KeyringError(Exception):
    """The keyring failed (KMS unreachable or refusing); the message holds no secret."""


class DecryptionFailed(KeyringError):
    """A sealed secret did not open: wrong context, wrong key, or tampered with."""


class Keyring(Protocol):
    def generate(self, context: Context) -> tuple[bytes, bytes]:
        """A fresh 32-byte data key and its wrapped form."""
        ...

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        """The data key inside ``wrapped``; ``DecryptionFailed`` if it does not open."""
        ...


def associated_data(context: Context) -> bytes:
    return orjson.dumps(dict(context), option=orjson.OPT_SORT_KEYS)


# cryptography (~7 MB and ~10 ms to import) is imported by the first secret sealed or opened:
# a gateway whose keys all come from its environment never loads it.


def seal(keyring: Keyring, context: Context, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key, wrapped = keyring.generate(context)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, associated_data(context))
    return bytes([VERSION]) + struct.pack(">H", len(wrapped)) + wrapped + nonce + ciphertext


def open_sealed(keyring: Keyring, context: Context, sealed: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(sealed) < 3 or sealed[0] != VERSION:
        raise DecryptionFailed("unknown sealed format")
    (size,) = struct.unpack(">H", sealed[1:3])
    wrapped = sealed[3 : 3 + size]
    nonce = sealed[3 + size : 3 + size + NONCE_BYTES]
    ciphertext = sealed[3 + size + NONCE_BYTES :]
    if len(wrapped) != size or len(nonce) != NONCE_BYTES:
        raise DecryptionFailed("truncated sealed secret")
    data_key = keyring.unwrap(wrapped, context)
    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext, associated_data(context))
    except InvalidTag:
        raise DecryptionFailed("the secret does not open with this context") from None
