"""Where a request's time goes inside one gateway worker, hop by hop, streamed or not.

    .venv/bin/python bench/hops.py [--requests 300] [--gap-ms 0] [--tree DIR]

Starts the fake upstream and ``llm-agg serve --workers 1`` with a probe put on its
``PYTHONPATH`` (a ``sitecustomize`` written to a temporary folder): it wraps the functions
named in ``HOPS`` and, for each request, notes the wall clock and the thread's CPU time at
each one's entry (``>``) and exit (``<``), from the request's bytes reaching the worker to its
first answer bytes leaving it. One raw connection then sends chat requests back to back (or
``--gap-ms`` apart): a block of plain ones, then a block of streamed ones; the medians are
printed per hop.

Read the two columns together: where CPU grows with the wall clock the worker is computing;
where only the wall clock grows it is waiting (for the upstream, or for the CPU). A stream's
worker sleeps between the upstream's chunks, so its next request finds a cold vCPU: the same
code then runs 2-3x slower than back to back (issue 17, ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
from pathlib import Path

from servers import CHAT_PATH, GATEWAY_MODEL, fake_upstream, free_port, gateway

PACKAGES = ("layers/common", "local", "functions/chat", "functions/health")

# (module, attribute): what the probe times; methods as "Class.method".
HOPS = [
    ("llm_agg.apps.chat", "read_json_body"),
    ("llm_agg.apps.chat", "parse_chat"),
    ("llm_agg.router", "Router.route"),
    ("llm_agg.apps.chat", "hold_for"),
    ("llm_agg.dispatch", "Dispatcher.send"),
    ("llm_agg.accounting", "Accounting.admit"),
    ("llm_agg.dispatch", "Dispatcher._open"),
    ("llm_agg.http_transport.connection", "Connection.write"),
    ("llm_agg.http_transport.connection", "Connection.data_received"),
    ("llm_agg.dispatch", "_first_frames"),
    ("llm_agg.dispatch", "EventStream.__call__"),
]

PROBE = """
import functools, importlib, inspect, json, os
from time import perf_counter, thread_time
import llm_agg_local.http_limits as limits

OUT = {out!r} + f".{{os.getpid()}}"
now = {{}}

def mark(name):
    if "in" in now and name not in now:
        now[name] = (perf_counter(), thread_time())

def wrap(module, qualname):
    owner = importlib.import_module(module)
    *classes, attr = qualname.split(".")
    for cls in classes:
        owner = getattr(owner, cls)
    fn = getattr(owner, attr)
    if inspect.iscoroutinefunction(fn):
        async def timed(*a, **k):
            mark(attr + " >")
            try:
                return await fn(*a, **k)
            finally:
                mark(attr + " <")
    else:
        def timed(*a, **k):
            mark(attr + " >")
            try:
                return fn(*a, **k)
            finally:
                mark(attr + " <")
    setattr(owner, attr, functools.wraps(fn)(timed))

for module, qualname in {hops!r}:
    wrap(module, qualname)

received = limits.LimitedHttpToolsProtocol.data_received
def data_received(self, data):
    if data[:5] == b"POST ":
        now.clear()
        now["in"] = (perf_counter(), thread_time())
    return received(self, data)
limits.LimitedHttpToolsProtocol.data_received = data_received

write = limits._HeadHeld.write
def held_write(self, data):
    write(self, data)
    if "in" in now and self._held is None:  # bytes left for the client: the first answer byte
        mark("first byte out")
        wall0, cpu0 = now.pop("in")
        row = {{k: ((w - wall0) * 1e6, (c - cpu0) * 1e6) for k, (w, c) in now.items()}}
        now.clear()
        with open(OUT, "a") as f:
            f.write(json.dumps(row) + "\\n")
limits._HeadHeld.write = held_write
"""


async def drive(port: int, requests: int, gap: float, stream: bool) -> None:
    """``requests`` chat requests, all streamed or none, one after another on one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = {"model": GATEWAY_MODEL, "messages": [{"role": "user", "content": "Hi"}]}
    raw = json.dumps({**body, "stream": stream}).encode()
    head = f"POST {CHAT_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
    for _ in range(requests):
        writer.write(head.encode() + raw)
        await _answer(reader)
        if gap:
            await asyncio.sleep(gap)
    writer.close()


async def _answer(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    fields = dict(
        line.split(": ", 1) for line in head.decode().lower().split("\r\n")[1:] if ": " in line
    )
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    else:
        await reader.readuntil(b"\r\n0\r\n\r\n")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def table(rows: list[dict[str, list[float]]], title: str) -> None:
    print(f"\n{title} ({len(rows)} requests; µs from the request's arrival, median)")
    print("| hop | wall | +wall | CPU | +CPU |\n| --- | ---: | ---: | ---: | ---: |")
    hops = sorted(rows[len(rows) // 2], key=lambda k: rows[len(rows) // 2][k][0])
    last_wall = last_cpu = 0.0
    for hop in hops:
        wall = statistics.median(r[hop][0] for r in rows if hop in r)
        cpu = statistics.median(r[hop][1] for r in rows if hop in r)
        print(
            f"| {hop} | {wall:.0f} | {wall - last_wall:+.0f} | {cpu:.0f} | {cpu - last_cpu:+.0f} |"
        )
        last_wall, last_cpu = wall, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=300, help="of each kind, plain and streamed")
    p.add_argument("--gap-ms", type=float, default=0.0, help="pause between requests")
    p.add_argument(
        "--tree", metavar="DIR", help="serve the code of DIR (a `git archive`), not this checkout"
    )
    args = p.parse_args()
    if not 10 <= args.requests <= 5000 or not 0 <= args.gap_ms <= 1000:
        p.error("keep it bounded: 10-5000 requests, a gap of 0-1000 ms")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = work / "hops"
        probe = work / "probe"
        probe.mkdir()
        (probe / "sitecustomize.py").write_text(PROBE.format(out=str(out), hops=HOPS))
        up_port = free_port()
        upstream = fake_upstream(up_port, 20, 5.0, work / "logs")
        server = gateway(free_port(), up_port, 1, work / "logs")
        # Only the gateway's processes carry the probe (and, with --tree, that tree's code).
        trees = [str(Path(args.tree).resolve() / p) for p in PACKAGES] if args.tree else []
        server.env["PYTHONPATH"] = os.pathsep.join([str(probe), *trees])
        try:
            upstream.start()
            server.start()
            upstream.wait_ready(30)
            server.wait_ready(60)
            port = int(server.origin.rsplit(":", 1)[1])
            found: dict[bool, list[dict[str, list[float]]]] = {}
            for stream in (False, True):  # each kind in a block: a stream's idle gaps go cold
                asyncio.run(drive(port, 30, 0.0, stream))  # warm-up, not kept
                for kept in work.glob("hops.*"):
                    kept.unlink()
                asyncio.run(drive(port, args.requests, args.gap_ms / 1000, stream))
                found[stream] = [json.loads(x) for f in work.glob("hops.*") for x in lines(f)]
        finally:
            server.stop()
            upstream.stop()
    plain, streamed = found[False], found[True]
    tree = f" --tree {args.tree}" if args.tree else ""
    print(
        f"$ .venv/bin/python bench/hops.py --requests {args.requests} --gap-ms {args.gap_ms:g}"
        + tree
    )
    table(plain, "one answer, back to back")
    table(streamed, "streamed, to its first byte, each after a whole stream")


if __name__ == "__main__":
    main()
