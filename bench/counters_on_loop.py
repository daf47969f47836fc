"""How long the event loop is held by the counter work of the hot path when it runs on the loop
(``llm_agg.store.nowait``): an admission (one provider window and a gateway key's minute, as
``Quota.charge`` and ``limits.keys.admit`` do) on the SQLite file, while other worker
processes write the same file as hard as they can, and what the same work costs in a thread.

Each sample is one ``nowait`` call on the loop (refusals included: they are time the loop was
held too), as wall time and as the loop thread's CPU time (on a busy machine the wall time's
tail is mostly the thread being descheduled; a wait on the disk shows in wall time only); the
table gives their percentiles, how often the work was refused (another writer held the file,
or it was the turn of the thread, see ``Database.nowait``) and so went to a thread, and the
CPU per admission both ways.

    .venv/bin/python bench/counters_on_loop.py --admissions 20000 --writers 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from llm_agg.store.base import CounterStore, UsageEvent
from llm_agg.store.nowait import WouldBlock
from llm_agg.store.sqlite import sqlite_stores


def admission(counters: CounterStore) -> None:
    end = time.time() + 60
    counters.increment("rl|groq|env|llama|rpm|1", 1, end, 10**9)
    counters.increment("gwkey-rpm:key_1:1", 1, end, 10**9)


def writer(path: str, stop: float) -> int:
    """Another worker: admissions in its threads' way and usage batches, until ``stop``."""
    stores = sqlite_stores(Path(path))
    event = UsageEvent("2026-12-06", "groq", "llama", "env", "-", True, 10, 5, 120.0)
    done = 0
    try:
        while time.time() < stop:
            admission(stores.counters)
            if done % 10 == 0:
                stores.usage.record([event] * 20)
            done += 1
    finally:
        stores.close()
    return done


async def measure(path: Path, admissions: int) -> dict[str, float | tuple[float, float]]:
    stores = sqlite_stores(path)
    counters = stores.counters
    nowait = counters.nowait  # type: ignore[attr-defined]
    held: list[float] = []
    cpu_held: list[float] = []
    refused = 0
    cpu = time.process_time()
    for _ in range(admissions):
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            nowait(admission)
            done = True
        except WouldBlock:
            done = False
        held.append(time.perf_counter() - started)
        cpu_held.append(time.thread_time() - started_cpu)
        if not done:
            refused += 1
            await asyncio.to_thread(admission, counters)
        await asyncio.sleep(0)
    on_loop = (time.process_time() - cpu) / admissions
    cpu = time.process_time()
    for _ in range(admissions // 4):
        await asyncio.to_thread(admission, counters)
    threaded = (time.process_time() - cpu) / (admissions // 4)
    stores.close()
    q = statistics.quantiles(held, n=1000)
    c = statistics.quantiles(cpu_held, n=1000)
    return {
        "held p50 µs, wall / CPU": (q[499] * 1e6, c[499] * 1e6),
        "held p99 µs, wall / CPU": (q[989] * 1e6, c[989] * 1e6),
        "held p99.9 µs, wall / CPU": (q[998] * 1e6, c[998] * 1e6),
        "held max µs, wall / CPU": (max(held) * 1e6, max(cpu_held) * 1e6),
        "refused %": refused / admissions * 100,
        "CPU µs an admission, loop first": on_loop * 1e6,
        "CPU µs an admission, in a thread": threaded * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admissions", type=int, default=20000)
    parser.add_argument("--writers", type=int, default=2, help="other processes writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.sqlite3"
        sqlite_stores(path).close()
        context = multiprocessing.get_context("spawn")
        with context.Pool(max(1, args.writers)) as pool:
            stop = time.time() + 3600
            others = [pool.apply_async(writer, (str(path), stop)) for _ in range(args.writers)]
            time.sleep(1.0)  # the writers are up
            figures = asyncio.run(measure(path, args.admissions))
            pool.terminate()
            del others
    print(f"| {args.writers} other writers | |\n| --- | ---: |")
    for name, value in figures.items():
        shown = " / ".join(f"{v:,.1f}" for v in value) if isinstance(value, tuple) else value
        print(f"| {name} | {shown if isinstance(shown, str) else f'{shown:,.1f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
