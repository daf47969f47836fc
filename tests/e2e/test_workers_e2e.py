"""`llm-agg serve --workers 2`: connections spread over the workers instead of piling onto the
first one woken (``llm_agg_local.accept``)."""

from __future__ import annotations

import http.client
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from llm_agg_local.accept import TABLE_ENV, WorkerTable
from tests.e2e.harness import FakeUpstream, Process, start_gateway

pytestmark = pytest.mark.e2e


def workers_of(supervisor: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == supervisor:
                found.append(int(entry))
    return found


def table_of(workers: list[int]) -> WorkerTable:
    for pid in workers:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        for item in environ:
            if item.startswith(TABLE_ENV.encode() + b"="):
                return WorkerTable(item.split(b"=", 1)[1].decode())
    raise AssertionError("no worker was given a table")


def claims(table: WorkerTable) -> list[int]:
    """The workers listening: each claims a slot as it starts to."""
    return [pid for _, pid, _ in table.entries() if pid]


def listening(gateway: Process, workers: int, without: int = 0) -> WorkerTable:
    """The workers' table, once ``workers`` live workers (none of them ``without``) listen:
    the last may still be starting after /health first answered."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(found := workers_of(gateway.popen.pid)) >= workers:
            table = table_of(found)
            live = [pid for pid in claims(table) if pid != without and pid in found]
            if len(live) == workers:
                return table
        time.sleep(0.05)
    raise AssertionError(f"{workers} workers did not start listening: {gateway.output()}")


def server_side_inode(server_port: int, client_port: int) -> str:
    want_local, want_remote = f":{server_port:04X}", f":{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(want_local) and fields[2].endswith(want_remote):
            return fields[9]
    raise AssertionError(f"no server socket for client port {client_port}")


def holder(workers: list[int], inode: str) -> int:
    target = f"socket:[{inode}]"
    for pid in workers:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds socket {inode}")


def spread(gateway: Process, connections: int) -> Counter[int]:
    """How many of ``connections`` opened one at a time, each kept open after its answer (as a
    client's pool keeps them), each worker holds."""
    port = int(gateway.url.rsplit(":", 1)[1])
    kept: list[http.client.HTTPConnection] = []
    try:
        for _ in range(connections):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            kept.append(conn)
        workers = workers_of(gateway.popen.pid)
        return Counter(
            holder(workers, server_side_inode(port, c.sock.getsockname()[1])) for c in kept
        )
    finally:
        for conn in kept:
            conn.close()


def test_connections_spread_over_the_workers(tmp_path: Path, fake: FakeUpstream) -> None:
    gateway = start_gateway(tmp_path, fake.provider_env("workers"), "--workers", "2")
    try:
        listening(gateway, 2)
        owners = spread(gateway, 6)
    finally:
        gateway.stop()
    assert sorted(owners.values()) == [3, 3], owners


def test_a_killed_workers_successor_takes_its_share(tmp_path: Path, fake: FakeUpstream) -> None:
    gateway = start_gateway(tmp_path, fake.provider_env("workers"), "--workers", "2")
    try:
        victim = claims(listening(gateway, 2))[0]
        os.kill(victim, signal.SIGKILL)
        # uvicorn's supervisor starts another worker, which takes a slot of the table.
        listening(gateway, 2, without=victim)
        owners = spread(gateway, 6)
    finally:
        gateway.stop()
    assert victim not in owners
    assert sorted(owners.values()) == [3, 3], owners
