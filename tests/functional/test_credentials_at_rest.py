"""Stored credentials are sealed: the raw store (SQLite file, DynamoDB items) holds no key,
a sealed item moved to another account's row does not open, and decryption is cached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from llm_agg.credentials import Vault
from llm_agg.crypto.envelope import Context, DecryptionFailed
from llm_agg.crypto.kms import KmsKeyring
from llm_agg.crypto.local import LocalKeyring
from llm_agg.store.base import CredentialRecord
from llm_agg.store.dynamodb import Tables, dynamodb_stores, ensure_tables
from llm_agg.store.sqlite import sqlite_stores
from tests.functional.gateway import add_account, make_settings, serve
from tests.functional.stores import Clock

KEY = "gsk_at_rest_secret_key_31337"
HEADER = "header-value-also-secret-4242"


def test_sqlite_files_hold_no_plaintext_key(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path)) as client:
        added = add_account(client, "groq", "a1", KEY, additional_headers={"X-Title": HEADER})
        assert added.status_code == 201
    files = [p for p in (tmp_path / "data").iterdir() if p.name.startswith("llm-agg.sqlite3")]
    assert files  # the database, and its WAL while one is left
    for path in files:
        raw = path.read_bytes()
        assert KEY.encode() not in raw and HEADER.encode() not in raw, path.name


@pytest.fixture
def dynamo() -> Iterator[tuple[object, Vault]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        ensure_tables(client, Tables())
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        stores = dynamodb_stores(client, Tables())
        yield client, Vault(stores.credentials, KmsKeyring(kms, key_id))


def test_dynamodb_items_hold_no_plaintext_key(dynamo: tuple[object, Vault]) -> None:
    client, vault = dynamo
    vault.put("groq", "a1", KEY, {"X-Title": HEADER})
    items = client.scan(TableName=Tables().credentials)["Items"]  # type: ignore[attr-defined]
    assert len(items) == 1
    raw = repr(items).encode() + items[0]["sealed"]["B"]
    assert KEY.encode() not in raw and HEADER.encode() not in raw
    (account,) = vault.load()
    assert (account.api_key, dict(account.headers)) == (KEY, {"X-Title": HEADER})


def test_sealed_item_copied_to_another_account_does_not_open(
    dynamo: tuple[object, Vault],
) -> None:
    _, vault = dynamo
    record = vault.put("groq", "a1", KEY)
    stolen = CredentialRecord("groq", "thief", record.sealed, created_at=1.0)
    vault.store.put(stolen)
    with pytest.raises(DecryptionFailed):
        vault.secret(stolen)
    assert [a.account_id for a in vault.load()] == ["a1"]
    assert vault.problems == {("groq", "thief"): "the stored key cannot be decrypted"}


class CountingKeyring(LocalKeyring):
    unwraps = 0

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        self.unwraps += 1
        return super().unwrap(wrapped, context)


def test_decrypted_keys_are_cached_for_minutes_and_the_list_for_seconds(tmp_path: Path) -> None:
    stores = sqlite_stores(tmp_path / "s.sqlite3")
    keyring = CountingKeyring(b"k" * 32)
    clock = Clock(0.0)
    vault = Vault(stores.credentials, keyring, monotonic=clock, list_ttl=15, secret_ttl=300)
    try:
        vault.put("groq", "a1", KEY)
        assert [a.api_key for a in vault.accounts()] == [KEY]
        assert keyring.unwraps == 1
        clock.now = 10
        assert not vault.stale and vault.accounts()[0].api_key == KEY
        clock.now = 20  # the list is re-read, the secret still comes from the cache
        assert vault.stale
        vault.load()
        assert keyring.unwraps == 1
        clock.now = 400
        vault.load()
        assert keyring.unwraps == 2
        vault.put("groq", "a1", "gsk_replaced_key_0002")  # a new sealed blob: opened anew
        assert [a.api_key for a in vault.load()] == ["gsk_replaced_key_0002"]
        assert keyring.unwraps == 3
    finally:
        stores.close()
