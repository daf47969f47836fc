"""Envelope encryption: sealed secrets open only with their own context and keyring."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from llm_agg.crypto.envelope import DecryptionFailed, open_sealed, seal
from llm_agg.crypto.kms import KmsKeyring
from llm_agg.crypto.local import MASTER_KEY_FILE, LocalKeyring
from llm_agg.crypto.secret_file import read_or_create

A1 = {"provider": "groq", "account_id": "a1"}
A2 = {"provider": "groq", "account_id": "a2"}
SECRET = b'{"api_key": "gsk_envelope_test_0001"}'


def test_local_sealed_secret_opens_with_its_own_context_only(tmp_path: Path) -> None:
    keyring = LocalKeyring.from_data_dir(tmp_path)
    sealed = seal(keyring, A1, SECRET)
    assert SECRET not in sealed
    assert open_sealed(keyring, A1, sealed) == SECRET
    with pytest.raises(DecryptionFailed):
        open_sealed(keyring, A2, sealed)  # copied onto another account's row
    with pytest.raises(DecryptionFailed):
        open_sealed(LocalKeyring(b"\x01" * 32), A1, sealed)  # another master key


def test_every_seal_uses_a_fresh_data_key(tmp_path: Path) -> None:
    keyring = LocalKeyring.from_data_dir(tmp_path)
    first, second = seal(keyring, A1, SECRET), seal(keyring, A1, SECRET)
    assert first != second
    assert first[3:60] != second[3:60]  # the wrapped data keys differ


@pytest.mark.parametrize("cut", [0, 1, 5, 40, -1])
def test_tampered_or_truncated_secret_does_not_open(tmp_path: Path, cut: int) -> None:
    keyring = LocalKeyring.from_data_dir(tmp_path)
    sealed = bytearray(seal(keyring, A1, SECRET))
    if cut == -1:
        sealed[-1] ^= 1
        damaged = bytes(sealed)
    else:
        damaged = bytes(sealed[:cut])
    with pytest.raises(DecryptionFailed):
        open_sealed(keyring, A1, damaged)


def test_master_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sealed = seal(LocalKeyring.from_data_dir(data), A1, SECRET)
    path = data / MASTER_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert open_sealed(LocalKeyring.from_data_dir(data), A1, sealed) == SECRET


def test_processes_starting_together_agree_on_one_secret_file(tmp_path: Path) -> None:
    results: list[tuple[bytes, bool]] = []
    counter = iter(range(100))

    def make() -> bytes:
        return b"secret-%d" % next(counter)

    threads = [
        threading.Thread(target=lambda: results.append(read_or_create(tmp_path / "f", make)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({content for content, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no files left aside


@mock_aws
def test_kms_sealed_secret_binds_the_encryption_context() -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    keyring = KmsKeyring(kms, key_id)
    sealed = seal(keyring, A1, SECRET)
    assert SECRET not in sealed
    assert open_sealed(keyring, A1, sealed) == SECRET
    with pytest.raises(DecryptionFailed):
        open_sealed(keyring, A2, sealed)
