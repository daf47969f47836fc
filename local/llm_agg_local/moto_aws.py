"""``llm-agg serve --store moto``: DynamoDB and KMS from moto, in this process, nothing kept.

The exact AWS code path (boto3 clients, the DynamoDB stores, the KMS keyring) against moto's
in-memory backends, started once per process. moto does not serialise concurrent requests the
way DynamoDB does per item, so every call goes through one lock: each request is atomic again,
as on AWS, while the gateway's own retry logic still interleaves between requests.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from llm_agg.crypto.kms import KmsKeyring
from llm_agg.settings import Settings
from llm_agg.store import factory
from llm_agg.store.dynamodb import dynamodb_stores, ensure_tables


class Serialized:
    """A boto3 client whose calls run one at a time."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


_started: factory.Backend | None = None
_start_lock = threading.Lock()


def open_moto(settings: Settings) -> factory.Backend:
    """Start moto (once per process), make the tables and a KMS key, open the stores."""
    global _started
    with _start_lock:
        if _started is None:
            from moto import mock_aws

            mock_aws().start()
            dynamodb, kms = factory.aws_clients(settings)
            tables = factory.tables(settings)
            ensure_tables(dynamodb, tables)
            key_id = kms.create_key(Description="llm-agg local (moto)")["KeyMetadata"]["KeyId"]
            _started = factory.Backend(
                dynamodb_stores(cast(Any, Serialized(dynamodb)), tables),
                KmsKeyring(cast(Any, Serialized(kms)), key_id),
            )
        return _started


factory.register("moto", open_moto)
