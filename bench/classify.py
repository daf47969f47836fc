"""How long ``auto``'s local classification of a request takes (it runs on every request).

    .venv/bin/python bench/classify.py [--runs 2000]

By hand only; timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import time

import orjson

from llm_agg.api.chat import parse_chat
from llm_agg.routing.classify import classify

TEXTS = {
    "greeting": "Hello! How are you?",
    "code (40 lines)": "Please fix this python code:\n```python\n"
    + "def f(x):\n    return x * 2\n" * 40
    + "```",
    "long document (600 KB)": "a long document to summarise " * 20_000,
}


def per_call(text: str, runs: int) -> float:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    call = parse_chat(orjson.dumps(body))
    classify(call)
    started = time.perf_counter()
    for _ in range(runs):
        classify(call)
    return (time.perf_counter() - started) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    for name, text in TEXTS.items():
        print(f"{name:>24}: {per_call(text, args.runs) * 1e6:8.1f} µs per call")


if __name__ == "__main__":
    main()
