"""The AWS backend: three DynamoDB tables (credentials, runtime, usage), each keyed ``pk``/``sk``.

The boto3 client is injected (moto in tests, ``AWS_ENDPOINT_URL_DYNAMODB`` for any compatible
endpoint, which boto3 reads itself). TTL deletes expired items days late, so every read checks
``expires_at`` itself. Item layout:

    credentials  pk "cred"              sk "<provider>|<account_id>"
                 pk "gwkey"             sk "<key_id>"
    runtime      pk "counter#<key>"     sk "-"          n, expires_at
                 pk "expiring"          sk "<key>"      value, expires_at
                 pk "checkpoint#<id>"   sk "-"          owner, version, data, expires_at
                 pk "response#<id>"     sk "-"          owner, data, created_at, expires_at
    usage        pk "day#<YYYY-MM-DD>"  sk "<provider>|<model>|<account>|<key>"
                                        requests, errors, failovers, prompt_tokens,
                                        completion_tokens, lat_<bucket>, err_<kind>

Parts of a sort key are percent-quoted, so a ``|`` inside a model id cannot collide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from llm_agg.store import histogram
from llm_agg.store.base import (
    MAX_CHECKPOINT_BYTES,
    MAX_RESPONSE_BYTES,
    Checkpoint,
    CredentialRecord,
    GatewayKeyRecord,
    ItemTooLarge,
    KeptResponse,
    StoreError,
    Stores,
    UsageEvent,
    UsageRow,
    VersionConflict,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Clock = Callable[[], float]
Item = dict[str, Any]

# Conditions, named once.
EXISTS = "attribute_exists(pk)"
LIVE = "expires_at > :now"
ABSENT_OR_EXPIRED = "attribute_not_exists(pk) OR expires_at <= :now"
LIVE_WITH_ROOM = "expires_at > :now AND n <= :room"
AT_VERSION = "version = :expected AND expires_at > :now"
OWNED_AND_LIVE = "#owner = :owner AND expires_at > :now"  # "owner" is a reserved word


@dataclass(frozen=True, slots=True)
class Tables:
    credentials: str = "llm-agg-credentials"
    runtime: str = "llm-agg-runtime"
    usage: str = "llm-agg-usage"


def sort_key(*parts: str) -> str:
    return "|".join(quote(part, safe="") for part in parts)


def _key(pk: str, sk: str = "-") -> Item:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _n(value: float) -> Item:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _failed(exc: ClientError) -> StoreError:
    return StoreError(f"dynamodb: {_code(exc) or 'error'}")


def _num(item: Item, name: str) -> float | None:
    value = item.get(name)
    return float(value["N"]) if value is not None else None


def _str(item: Item, name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value is not None else None


def _live(item: Item | None, now: float) -> Item | None:
    if not item:
        return None
    expires = _num(item, "expires_at")
    return item if expires is None or expires > now else None


class _Table:
    def __init__(self, client: DynamoDBClient, name: str, clock: Clock) -> None:
        self.client = client
        self.name = name
        self.clock = clock

    def get(self, key: Item) -> Item | None:
        try:
            response = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True)
        except ClientError as exc:
            raise _failed(exc) from None
        item: Item | None = response.get("Item")
        return item

    def query(self, pk: str, prefix: str = "", **extra: Any) -> Iterator[Item]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: Item = {":pk": {"S": pk}, **extra.pop("values", {})}
        if prefix:
            values[":prefix"] = {"S": prefix}
        start: Item | None = None
        while True:
            args: Item = {
                "TableName": self.name,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ConsistentRead": True,
                **extra,
            }
            if start:
                args["ExclusiveStartKey"] = start
            try:
                page = self.client.query(**args)
            except ClientError as exc:
                raise _failed(exc) from None
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def update(self, key: Item, expression: str, **extra: Any) -> Item:
        try:
            response = self.client.update_item(
                TableName=self.name, Key=key, UpdateExpression=expression, **extra
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise
            raise _failed(exc) from None
        attributes: Item = response.get("Attributes", {})
        return attributes


class DynamoCredentials:
    def __init__(self, table: _Table) -> None:
        self.table = table

    def put(self, record: CredentialRecord) -> None:
        item: Item = {
            **_key("cred", sort_key(record.provider, record.account_id)),
            "provider": {"S": record.provider},
            "account_id": {"S": record.account_id},
            "sealed": {"B": record.sealed},
            "enabled": {"BOOL": record.enabled},
            "created_at": _n(record.created_at),
        }
        if record.last_used_at is not None:
            item["last_used_at"] = _n(record.last_used_at)
        if record.last_error is not None:
            item["last_error"] = {"S": record.last_error}
        try:
            self.table.client.put_item(TableName=self.table.name, Item=item)
        except ClientError as exc:
            raise _failed(exc) from None

    def get(self, provider: str, account_id: str) -> CredentialRecord | None:
        item = self.table.get(_key("cred", sort_key(provider, account_id)))
        return _credential(item) if item else None

    def list(self, provider: str | None = None) -> list[CredentialRecord]:
        prefix = sort_key(provider) + "|" if provider is not None else ""
        return [_credential(item) for item in self.table.query("cred", prefix)]

    def delete(self, provider: str, account_id: str) -> bool:
        try:
            response = self.table.client.delete_item(
                TableName=self.table.name,
                Key=_key("cred", sort_key(provider, account_id)),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            raise _failed(exc) from None
        return bool(response.get("Attributes"))

    def set_enabled(self, provider: str, account_id: str, enabled: bool) -> bool:
        try:
            self.table.update(
                _key("cred", sort_key(provider, account_id)),
                "SET enabled = :enabled",
                ConditionExpression=EXISTS,
                ExpressionAttributeValues={":enabled": {"BOOL": enabled}},
            )
        except ClientError:
            return False
        return True

    def mark_used(
        self, provider: str, account_id: str, at: float, error: str | None = None
    ) -> None:
        values: Item = {":at": _n(at)}
        expression = "SET last_used_at = :at"
        if error is None:
            expression += " REMOVE last_error"
        else:
            expression += ", last_error = :error"
            values[":error"] = {"S": error}
        try:
            self.table.update(
                _key("cred", sort_key(provider, account_id)),
                expression,
                ConditionExpression=EXISTS,
                ExpressionAttributeValues=values,
            )
        except ClientError:
            return  # deleted meanwhile: nothing to mark


def _credential(item: Item) -> CredentialRecord:
    return CredentialRecord(
        provider=str(item["provider"]["S"]),
        account_id=str(item["account_id"]["S"]),
        sealed=bytes(item["sealed"]["B"]),
        enabled=bool(item["enabled"]["BOOL"]),
        created_at=_num(item, "created_at") or 0.0,
        last_used_at=_num(item, "last_used_at"),
        last_error=_str(item, "last_error"),
    )


class DynamoGatewayKeys:
    def __init__(self, table: _Table) -> None:
        self.table = table

    def put(self, record: GatewayKeyRecord) -> None:
        item: Item = {
            **_key("gwkey", record.key_id),
            "key_id": {"S": record.key_id},
            "key_hash": {"S": record.key_hash},
            "created_at": _n(record.created_at),
            "prefix": {"S": record.prefix},
        }
        # Not "expires_at": that name is the TTL attribute, and an expired key should stay
        # listed until an admin deletes it.
        optional = {
            "name": {"S": record.name} if record.name is not None else None,
            "key_expires_at": _n(record.expires_at) if record.expires_at is not None else None,
            "requests_per_minute": _n(record.requests_per_minute)
            if record.requests_per_minute is not None
            else None,
            "tokens_per_day": _n(record.tokens_per_day)
            if record.tokens_per_day is not None
            else None,
        }
        item.update({k: v for k, v in optional.items() if v is not None})
        try:
            self.table.client.put_item(TableName=self.table.name, Item=item)
        except ClientError as exc:
            raise _failed(exc) from None

    def by_hash(self, key_hash: str) -> GatewayKeyRecord | None:
        now = self.table.clock()
        for item in self.table.query(
            "gwkey",
            FilterExpression="key_hash = :hash",
            values={":hash": {"S": key_hash}},
        ):
            record = _gateway_key(item)
            if record.expires_at is None or record.expires_at > now:
                return record
        return None

    def list(self) -> list[GatewayKeyRecord]:
        records = [_gateway_key(item) for item in self.table.query("gwkey")]
        return sorted(records, key=lambda r: (r.created_at, r.key_id))

    def delete(self, key_id: str) -> bool:
        try:
            response = self.table.client.delete_item(
                TableName=self.table.name, Key=_key("gwkey", key_id), ReturnValues="ALL_OLD"
            )
        except ClientError as exc:
            raise _failed(exc) from None
        return bool(response.get("Attributes"))


def _int(item: Item, name: str) -> int | None:
    value = _num(item, name)
    return int(value) if value is not None else None


def _gateway_key(item: Item) -> GatewayKeyRecord:
    return GatewayKeyRecord(
        key_id=str(item["key_id"]["S"]),
        key_hash=str(item["key_hash"]["S"]),
        name=_str(item, "name"),
        created_at=_num(item, "created_at") or 0.0,
        expires_at=_num(item, "key_expires_at"),
        requests_per_minute=_int(item, "requests_per_minute"),
        tokens_per_day=_int(item, "tokens_per_day"),
        prefix=_str(item, "prefix") or "",
    )


class DynamoCounters:
    _TRIES = 8

    def __init__(self, table: _Table) -> None:
        self.table = table

    def increment(
        self, key: str, amount: int, expires_at: float, limit: int | None = None
    ) -> int | None:
        if limit is not None and amount > limit:
            return None
        item_key = _key("counter#" + key)
        for _ in range(self._TRIES):
            now = self.table.clock()
            # The common case, one conditional write: add to a live window with room left.
            values: Item = {":amount": _n(amount), ":now": _n(now)}
            if limit is not None:
                values[":room"] = _n(limit - amount)
            try:
                updated = self.table.update(
                    item_key,
                    "ADD n :amount",
                    ConditionExpression=LIVE_WITH_ROOM if limit is not None else LIVE,
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return int(updated["n"]["N"])
            except ClientError as exc:
                # moto may not return the item with the failure: read it then.
                old = exc.response.get("Item") or self.table.get(item_key)
            live = _live(old, now)
            if live is not None:
                if limit is not None and (_int(live, "n") or 0) + amount > limit:
                    return None  # a live window without room: refused
                continue  # the window appeared after our write failed: add to it
            # No window, or an expired one DynamoDB has not deleted yet: start afresh.
            try:
                self.table.update(
                    item_key,
                    "SET n = :amount, expires_at = :expires",
                    ConditionExpression=ABSENT_OR_EXPIRED,
                    ExpressionAttributeValues={
                        ":amount": _n(amount),
                        ":expires": _n(expires_at),
                        ":now": _n(now),
                    },
                )
                return amount
            except ClientError:
                continue  # another writer started the window first: add to theirs
        raise StoreError(f"dynamodb: counter {key!r} too contended")

    def get(self, key: str) -> int:
        item = _live(self.table.get(_key("counter#" + key)), self.table.clock())
        return (_int(item, "n") or 0) if item else 0


class DynamoExpiring:
    def __init__(self, table: _Table) -> None:
        self.table = table

    def put(self, key: str, value: bytes, expires_at: float) -> None:
        item = {**_key("expiring", key), "value": {"B": value}, "expires_at": _n(expires_at)}
        try:
            self.table.client.put_item(TableName=self.table.name, Item=item)
        except ClientError as exc:
            raise _failed(exc) from None

    def get(self, key: str) -> bytes | None:
        item = _live(self.table.get(_key("expiring", key)), self.table.clock())
        return bytes(item["value"]["B"]) if item else None

    def scan(self, prefix: str) -> dict[str, bytes]:
        now = self.table.clock()
        return {
            str(item["sk"]["S"]): bytes(item["value"]["B"])
            for item in self.table.query("expiring", prefix)
            if _live(item, now) is not None
        }


_USAGE_KEYS = ("provider", "model", "account_id", "gateway_key")
_ERRORS = "err_"  # attribute prefix of the count of each kind of failure ("err_rate_limited")


class DynamoUsage:
    def __init__(self, table: _Table) -> None:
        self.table = table

    def record(self, events: Sequence[UsageEvent]) -> None:
        # One update per row of the batch, not per event.
        rows: dict[tuple[str, ...], dict[str, int]] = {}
        for e in events:
            counts = rows.setdefault((e.day, e.provider, e.model, e.account_id, e.gateway_key), {})
            for name, value in (
                ("requests", 1),
                ("errors", int(not e.ok)),
                ("prompt_tokens", e.prompt_tokens),
                ("completion_tokens", e.completion_tokens),
                ("failovers", int(e.failed_over)),
                ("lat_" + histogram.bucket(e.latency_ms), 1),
            ):
                counts[name] = counts.get(name, 0) + value
            if not e.ok:
                name = _ERRORS + e.outcome
                counts[name] = counts.get(name, 0) + 1
        for (day, *parts), counts in rows.items():
            names = {f"#k{i}": name for i, name in enumerate(_USAGE_KEYS)}
            values: Item = {f":k{i}": {"S": part} for i, part in enumerate(parts)}
            adds = []
            for i, (name, value) in enumerate(sorted(counts.items())):
                names[f"#c{i}"] = name
                values[f":c{i}"] = _n(value)
                adds.append(f"#c{i} :c{i}")
            sets = ", ".join(f"#k{i} = :k{i}" for i in range(len(_USAGE_KEYS)))
            self.table.update(
                _key("day#" + day, sort_key(*parts)),
                f"SET {sets} ADD {', '.join(adds)}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def query(self, start_day: str, end_day: str, provider: str | None = None) -> list[UsageRow]:
        prefix = sort_key(provider) + "|" if provider is not None else ""
        rows = []
        for day in _days(start_day, end_day):
            for item in self.table.query("day#" + day, prefix):
                rows.append(_usage_row(day, item))
        return rows


def _days(start_day: str, end_day: str) -> Iterator[str]:
    day, end = date.fromisoformat(start_day), date.fromisoformat(end_day)
    while day <= end:
        yield day.isoformat()
        day += timedelta(days=1)


def _usage_row(day: str, item: Item) -> UsageRow:
    latency = {
        name: count for name in histogram.LABELS if (count := _int(item, "lat_" + name)) is not None
    }
    return UsageRow(
        day=day,
        provider=_str(item, "provider") or "",
        model=_str(item, "model") or "",
        account_id=_str(item, "account_id") or "",
        gateway_key=_str(item, "gateway_key") or "",
        requests=_int(item, "requests") or 0,
        errors=_int(item, "errors") or 0,
        prompt_tokens=_int(item, "prompt_tokens") or 0,
        completion_tokens=_int(item, "completion_tokens") or 0,
        latency_ms=latency,
        errors_by_kind={
            name.removeprefix(_ERRORS): int(value["N"])
            for name, value in item.items()
            if name.startswith(_ERRORS)
        },
        failovers=_int(item, "failovers") or 0,
    )


class DynamoCheckpoints:
    def __init__(self, table: _Table) -> None:
        self.table = table

    def get(self, thread_id: str) -> Checkpoint | None:
        item = _live(self.table.get(_key("checkpoint#" + thread_id)), self.table.clock())
        if item is None:
            return None
        return Checkpoint(
            thread_id=thread_id,
            owner=str(item["owner"]["S"]),
            version=int(item["version"]["N"]),
            data=bytes(item["data"]["B"]),
            expires_at=float(item["expires_at"]["N"]),
        )

    def put(self, checkpoint: Checkpoint, expected_version: int | None) -> None:
        if len(checkpoint.data) > MAX_CHECKPOINT_BYTES:
            raise ItemTooLarge(
                f"checkpoint of {len(checkpoint.data)} bytes is over the "
                f"{MAX_CHECKPOINT_BYTES}-byte limit"
            )
        values: Item = {":now": _n(self.table.clock())}
        if expected_version is not None:
            values[":expected"] = _n(expected_version)
        item = {
            **_key("checkpoint#" + checkpoint.thread_id),
            "owner": {"S": checkpoint.owner},
            "version": _n(checkpoint.version),
            "data": {"B": checkpoint.data},
            "expires_at": _n(checkpoint.expires_at),
        }
        try:
            self.table.client.put_item(
                TableName=self.table.name,
                Item=item,
                ConditionExpression=ABSENT_OR_EXPIRED if expected_version is None else AT_VERSION,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            code = _code(exc)
            if code == "ConditionalCheckFailedException":
                raise VersionConflict(
                    f"thread {checkpoint.thread_id!r} is not at version {expected_version}"
                ) from None
            if code == "ValidationException" and "size" in str(exc).lower():
                raise ItemTooLarge("checkpoint is over DynamoDB's item size limit") from None
            raise _failed(exc) from None


class DynamoResponses:
    def __init__(self, table: _Table) -> None:
        self.table = table

    def put(self, kept: KeptResponse) -> None:
        if len(kept.data) > MAX_RESPONSE_BYTES:
            raise ItemTooLarge(
                f"response of {len(kept.data)} bytes is over the {MAX_RESPONSE_BYTES}-byte limit"
            )
        item = {
            **_key("response#" + kept.response_id),
            "owner": {"S": kept.owner},
            "data": {"B": kept.data},
            "created_at": _n(kept.created_at),
            "expires_at": _n(kept.expires_at),
        }
        try:
            self.table.client.put_item(TableName=self.table.name, Item=item)
        except ClientError as exc:
            if _code(exc) == "ValidationException" and "size" in str(exc).lower():
                raise ItemTooLarge("response is over DynamoDB's item size limit") from None
            raise _failed(exc) from None

    def get(self, response_id: str) -> KeptResponse | None:
        item = _live(self.table.get(_key("response#" + response_id)), self.table.clock())
        if item is None:
            return None
        return KeptResponse(
            response_id=response_id,
            owner=str(item["owner"]["S"]),
            data=bytes(item["data"]["B"]),
            created_at=float(item["created_at"]["N"]),
            expires_at=float(item["expires_at"]["N"]),
        )

    def delete(self, response_id: str, owner: str) -> bool:
        try:
            self.table.client.delete_item(
                TableName=self.table.name,
                Key=_key("response#" + response_id),
                ConditionExpression=OWNED_AND_LIVE,
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}, ":now": _n(self.table.clock())},
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False  # absent, expired, or another key's
            raise _failed(exc) from None
        return True


def dynamodb_stores(
    client: DynamoDBClient, tables: Tables = Tables(), clock: Clock = time.time
) -> Stores:
    credentials = _Table(client, tables.credentials, clock)
    runtime = _Table(client, tables.runtime, clock)
    return Stores(
        credentials=DynamoCredentials(credentials),
        gateway_keys=DynamoGatewayKeys(credentials),
        counters=DynamoCounters(runtime),
        expiring=DynamoExpiring(runtime),
        usage=DynamoUsage(_Table(client, tables.usage, clock)),
        checkpoints=DynamoCheckpoints(runtime),
        responses=DynamoResponses(runtime),
    )


def ensure_tables(client: DynamoDBClient, tables: Tables) -> None:
    """Create the tables that do not exist yet (local endpoints and moto; in AWS the template
    makes them), as template.yaml declares them: pk/sk strings, on demand, TTL on runtime."""
    for name in (tables.credentials, tables.runtime, tables.usage):
        try:
            client.describe_table(TableName=name)
            continue
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise _failed(exc) from None
        try:
            client.create_table(
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if _code(exc) != "ResourceInUseException":  # another process made it meanwhile
                raise _failed(exc) from None
        client.get_waiter("table_exists").wait(TableName=name)
        if name == tables.runtime:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
            )
