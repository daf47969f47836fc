"""The upstream client's CPU to a stream's first chunk: what the gateway spends between
deciding to call a provider and holding the first bytes of its answer (``build_request`` as
``dispatch`` calls it, ``send``, the transport's write and its parse of the answer's head, the
first ``aiter_raw`` read), against ``bench/fake_upstream.py`` on loopback (started here).

One stream at a time, as the time to first byte is measured; the rest of each stream is read
and the connection reused, as in the gateway. Per round, the median of ``time.process_time()``
to the first chunk over ``--requests`` streams; the table gives the minimum and the median of
the rounds. To compare two trees, run it in each, alternately (the figure is this process's
CPU only, so it moves far less than a wall-clock one on a shared machine):

    .venv/bin/python bench/first_chunk.py --rounds 5 --requests 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvloop
from servers import CHAT_PATH, fake_upstream, free_port

from llm_agg.http_transport import upstream_client

LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200)  # Runtime.client's
BODY = (
    b'{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"Hi"}],"stream":true}'
)
# What the OpenAI-compatible adapter sends besides the body.
HEADERS = {"content-type": "application/json", "authorization": "Bearer gsk_bench_not_a_key"}


async def measure(url: str, rounds: int, requests: int) -> list[float]:
    client = upstream_client(timeout=httpx.Timeout(60.0, connect=10.0), limits=LIMITS)

    async def first_chunk() -> float:
        started = time.process_time()
        request = client.build_request("POST", url, content=BODY, headers=HEADERS, timeout=60.0)
        response = await client.send(request, stream=True)
        reads = response.aiter_raw()
        async for _ in reads:
            break
        spent = time.process_time() - started
        async for _ in reads:
            pass
        await response.aclose()
        return spent

    medians = []
    try:
        for rep in range(rounds + 1):  # the first round opens the connection and warms up
            spent = [await first_chunk() for _ in range(requests)]
            if rep:
                medians.append(statistics.median(spent) * 1e6)
    finally:
        await client.aclose()
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="streams per round")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as logs:
        upstream = fake_upstream(port, 20, 0.0, Path(logs))
        upstream.start()
        try:
            upstream.wait_ready(30)
            url = f"http://127.0.0.1:{port}{CHAT_PATH}"
            medians = uvloop.run(measure(url, args.rounds, args.requests))
        finally:
            upstream.stop()
    print(f"$ .venv/bin/python bench/first_chunk.py {' '.join(sys.argv[1:])}".rstrip())
    print("| CPU µs to a stream's first chunk (median of a round) | min | median |")
    print("| --- | ---: | ---: |")
    print(f"| upstream_client() | {min(medians):,.1f} | {statistics.median(medians):,.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
