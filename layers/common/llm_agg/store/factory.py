"""Opening the backend a process persists to, by ``settings.store``.

``sqlite`` and ``dynamodb`` are built in; ``moto`` is registered by the local server, which
starts moto in-process (moto is a dependency of the local package, never of the layer).
boto3 is imported only when DynamoDB is used: the Lambda cold start of other paths skips it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llm_agg.crypto.envelope import Keyring
from llm_agg.settings import Settings
from llm_agg.store.base import StoreError, Stores

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_kms.client import KMSClient

    from llm_agg.store.dynamodb import Tables

SQLITE_FILE = "llm-agg.sqlite3"


@dataclass(frozen=True, slots=True)
class Backend:
    stores: Stores
    keyring: Keyring


Opener = Callable[[Settings], Backend]
_OPENERS: dict[str, Opener] = {}


def register(kind: str, opener: Opener) -> None:
    _OPENERS[kind] = opener


def open_backend(settings: Settings) -> Backend:
    if settings.store == "sqlite":
        return _sqlite(settings)
    if settings.store == "dynamodb":
        return _dynamodb(settings)
    opener = _OPENERS.get(settings.store)
    if opener is None:
        raise StoreError(
            f"the {settings.store!r} store is only available in the local server "
            f"(llm-agg serve --store {settings.store})"
        )
    return opener(settings)


def open_stores(settings: Settings) -> Stores:
    return open_backend(settings).stores


def _sqlite(settings: Settings) -> Backend:
    from llm_agg.crypto.local import LocalKeyring
    from llm_agg.store.sqlite import sqlite_stores

    return Backend(
        sqlite_stores(settings.data_dir / SQLITE_FILE),
        LocalKeyring.from_data_dir(settings.data_dir),
    )


def region(settings: Settings) -> str:
    env = settings.environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def aws_clients(settings: Settings) -> tuple[DynamoDBClient, KMSClient]:
    """boto3 clients for DynamoDB and KMS (endpoint overrides are read by boto3 itself)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
    )
    name = region(settings)
    return (
        boto3.client("dynamodb", region_name=name, config=config),
        boto3.client("kms", region_name=name, config=config),
    )


def tables(settings: Settings) -> Tables:
    from llm_agg.store.dynamodb import Tables

    return Tables(settings.credentials_table, settings.runtime_table, settings.usage_table)


def _dynamodb(settings: Settings) -> Backend:
    from llm_agg.crypto.kms import KmsKeyring
    from llm_agg.store.dynamodb import dynamodb_stores, ensure_tables

    if not settings.kms_key_id:
        raise StoreError("the dynamodb store needs LLM_AGG_KMS_KEY_ID (a KMS key id or alias)")
    dynamodb, kms = aws_clients(settings)
    names = tables(settings)
    env = settings.environ
    if env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL"):
        # A local DynamoDB-compatible endpoint: nobody else makes the tables there.
        ensure_tables(dynamodb, names)
    return Backend(
        dynamodb_stores(dynamodb, names),
        KmsKeyring(kms, settings.kms_key_id),
    )
