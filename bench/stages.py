"""CPU of each stage of a chat request, in process: the body read, validated, routed, the key's
tokens held, admitted (``endpoints.py``'s served app and upstream, each stage timed apart).

    .venv/bin/python bench/stages.py [--rounds 3] [--requests 400] [--gap-ms 0] [--limits]

Each stage (the functions in ``STAGES``) is wrapped to note the thread's CPU time at its entry
and exit; the median over every request but the first quarter (warming up) is printed, with
what an empty wrapped call costs (subtract it from each row). ``--gap-ms 5`` sleeps that long
before each request: the worker's vCPU then comes back cold, as for a stream that follows a
stream in ``hops.py``, and the same code costs 2-3x more; it is the in-process way to see
which stage suffers most. For a before/after, run it against a ``git archive`` of the base
(``PYTHONPATH=<archive>/layers/common:<archive>/local``) and this tree, alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import inspect
import statistics
from collections.abc import Callable
from time import thread_time
from typing import Any

import endpoints

# (module, attribute, label): what is timed; methods as "Class.method".
STAGES = [
    ("llm_agg.apps.chat", "read_json_body", "read_json_body"),
    ("llm_agg.apps.chat", "parse_chat", "parse_chat"),
    ("llm_agg.router", "Router.route", "route"),
    ("llm_agg.apps.chat", "hold_for", "hold_for"),
    ("llm_agg.accounting", "Accounting.admit", "admit"),
]

spent: dict[str, list[float]] = {}


def _timed(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    times = spent.setdefault(label, [])
    if inspect.iscoroutinefunction(fn):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = thread_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                times.append(thread_time() - started)

        return functools.wraps(fn)(timed_async)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            times.append(thread_time() - started)

    return functools.wraps(fn)(timed)


def wrap(module: str, qualname: str, label: str) -> None:
    owner: Any = importlib.import_module(module)
    *classes, attr = qualname.split(".")
    for cls in classes:
        owner = getattr(owner, cls)
    setattr(owner, attr, _timed(getattr(owner, attr), label))


def _nothing() -> None:
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400, help="per case and round")
    parser.add_argument("--gap-ms", type=float, default=0.0, help="idle before each request")
    parser.add_argument("--limits", action="store_true", help="as endpoints.py --limits")
    args = parser.parse_args()
    if not 0 <= args.gap_ms <= 100:
        parser.error("keep the gap within 0-100 ms")
    empty = _timed(_nothing, "an empty wrapped call")
    for _ in range(5000):
        empty()
    for module, qualname, label in STAGES:
        wrap(module, qualname, label)
    if args.gap_ms:
        served = endpoints.call

        async def after_a_gap(*a: Any, **k: Any) -> tuple[float, int]:
            await asyncio.sleep(args.gap_ms / 1000)
            return await served(*a, **k)

        endpoints.call = after_a_gap
    asyncio.run(endpoints.measure("small", args.rounds, args.requests, "chat", args.limits))
    print("| stage | CPU µs, median | p10 |\n| --- | ---: | ---: |")
    for label, times in spent.items():
        kept = sorted(times[len(times) // 4 :])
        median, p10 = statistics.median(kept) * 1e6, kept[len(kept) // 10] * 1e6
        print(f"| {label} | {median:.1f} | {p10:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
