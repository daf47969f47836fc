"""A Lambda-like cold start of the chat function, from a layer built as layers/common/Makefile
builds it: time and CPU from exec to the first answered request.

    .venv/bin/python bench/layer_start.py [--rounds 5] [--python python3.13] [--baseline DIR]

coldstart.py times the function module's import with this virtualenv's packages, which pip
compiled when it installed them. On Lambda everything comes from the layer instead, and
``/opt`` is read-only: what the layer ships as source alone is compiled again at every cold
start, and uvicorn's own import (run.sh starts it) is part of that start. Here, for each
checkout, the layer's packages are installed as its Makefile installs them (``pip install
--no-compile --target`` from its ``layers/common/requirements.txt``, for this machine's platform
and ``--python``'s version, not arm64), llm_agg added by its ``make code`` (which compiles the
whole layer) or, for a checkout without that rule, copied as source as its layer shipped it.
Then ``python -S -m uvicorn chat_function:build_app --factory`` starts as run.sh starts it,
with the checkout's template environment, until it answers the adapter's readiness check;
rounds alternate between the checkouts. Lambda's Python is 3.13: use a 3.13 interpreter when
there is one.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coldstart import ROOT, template_env
from servers import cpu_seconds


def build_layer(root: Path, python: str, into: Path) -> str:
    """``root``'s layer for ``python`` in ``into``/python; says how llm_agg got there."""
    layer = into / "python"
    requirements = root / "layers/common/requirements.txt"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--require-hashes", "--no-compile"]
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = ["--only-binary=:all:", "--python-version", version, "--target", str(layer)]
    subprocess.run([*pip, *target, "-r", str(requirements)], check=True)
    make = ["make", "-s", "-C", str(root / "layers/common"), "code"]
    done = subprocess.run([*make, f"ARTIFACTS_DIR={into}", f"PYTHON={python}"], capture_output=True)
    if done.returncode == 0:
        return "make code: llm_agg and the packages compiled"
    shutil.copytree(root / "layers/common/llm_agg", layer / "llm_agg", symlinks=False)
    return "no make code: all source, as that layer shipped"


def start(python: str, layer: Path, root: Path, port: int) -> tuple[float, float]:
    """Seconds from exec to the first answer, and the server's CPU seconds by then."""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{layer}:{root / 'functions/chat'}",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt is read-only on Lambda
        "LLM_AGG_CONFIG": str(layer / "llm_agg/providers.yaml"),
        "LLM_AGG_DATA_DIR": str(layer.parent / "data"),
        "AWS_LAMBDA_FUNCTION_NAME": "llm-agg-bench",
        "AWS_REGION": "us-east-1",
        **template_env(root),
    }
    command = [python, "-S", "-m", "uvicorn", "chat_function:build_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
    command += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
    began = time.perf_counter()
    quiet = subprocess.DEVNULL  # its JSON log and EMF lines
    server = subprocess.Popen(
        command, env=env, cwd=layer.parent, stdout=quiet, stderr=subprocess.PIPE
    )
    try:
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                # What the Lambda Web Adapter polls before it ends the init (template.yaml).
                connection.request("GET", "/v1/chat/completions")
                connection.getresponse().read()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(server.stderr.read().decode()[-800:]) from None
                time.sleep(0.002)
        wall = time.perf_counter() - began
        return wall, cpu_seconds([server.pid])
    finally:
        server.terminate()
        server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=shutil.which("python3.13") or sys.executable)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alternately")
    args = parser.parse_args(argv)
    checkouts = {"this checkout": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="layer-start-"))
    try:
        layers = {}
        for number, (name, root) in enumerate(checkouts.items()):
            into = scratch / str(number)
            how = build_layer(root, args.python, into)
            layers[name] = (into / "python", root)
            print(f"{name}: {how}")
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
        for turn in range(args.rounds):
            for number, (name, (layer, root)) in enumerate(layers.items()):
                samples[name].append(start(args.python, layer, root, 18600 + 2 * turn + number))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.python}, {args.rounds} rounds; median [min, max] to the first answer")
    for name, runs in samples.items():
        walls = [1000 * wall for wall, _ in runs]
        cpus = [1000 * cpu for _, cpu in runs]
        print(
            f"{name:<14} {statistics.median(walls):6.0f} ms [{min(walls):.0f}, {max(walls):.0f}]"
            f"   CPU {statistics.median(cpus):6.0f} ms [{min(cpus):.0f}, {max(cpus):.0f}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
