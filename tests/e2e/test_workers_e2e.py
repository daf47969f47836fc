"""`llm-agg serve --workers 2`: connections spread over the workers instead of piling onto the
first one woken (``llm_agg_local.accept``)."""

from __future__ import annotations

import http.client
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from llm_agg_local.accept import TABLE_ENV, WorkerTable
from tests.e2e.harness import FakeUpstream, start_gateway

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


def claimed(table: WorkerTable) -> int:
    """How many workers have started listening: each claims its slot as it does."""
    return sum(1 for _, pid, _ in table.entries() if pid)


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


def test_connections_spread_over_the_workers(tmp_path: Path, fake: FakeUpstream) -> None:
    gateway = start_gateway(tmp_path, fake.provider_env("workers"), "--workers", "2")
    port = int(gateway.url.rsplit(":", 1)[1])
    kept: list[http.client.HTTPConnection] = []
    try:
        deadline = time.monotonic() + 30
        while len(workers := workers_of(gateway.popen.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        table = table_of(workers)
        while claimed(table) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the second worker may still be starting after /health answered
        assert claimed(table) == 2
        # One at a time, each kept open after its answer, as a client's pool keeps them.
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            kept.append(conn)
        workers = workers_of(gateway.popen.pid)
        owners = Counter(
            holder(workers, server_side_inode(port, c.sock.getsockname()[1])) for c in kept
        )
    finally:
        for conn in kept:
            conn.close()
        gateway.stop()
    assert sorted(owners.values()) == [3, 3], owners
