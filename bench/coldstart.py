"""Cold start of the function modules, side by side with ``import litellm``.

    .venv/bin/python bench/coldstart.py [--runs 7] [--no-litellm] [--baseline /tmp/before]

For each function module (the ``*_function.py`` of functions/*/) and for ``litellm``, in the
same run and interleaved, a fresh interpreter imports it under ``python -X importtime``, with
llm_agg laid out and compiled as the layer ships it (layers/common/Makefile's ``make code``); the
module's cumulative import time (its top-level line) and the process's RSS after the import are
kept, and the median of the runs reported. A second column times ``build_app()`` with a Lambda
environment (Powertools is loaded there, and only there). The heaviest packages each module
pulls in are listed, with the ones the hot path should not need (boto3, Powertools, yaml, the
agent) named when present.

LiteLLM is never our dependency: it is installed into bench/.venv-litellm as bench/run.py does
(servers.ensure_litellm: one pinned release; 1.82.7 and 1.82.8, compromised, refused). Goal: the
chat module imports in at most 1/5 of LiteLLM's time. Figures from a loaded machine mean
little: take them when nothing else runs. Results also go to bench/results/coldstart-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

# bench/run.py's LiteLLM: same virtualenv, same release, same refusal of the bad ones.
from servers import LITELLM_SPEC, LITELLM_VENV, ensure_litellm

ROOT = Path(__file__).resolve().parents[1]
# Packages that are heavy at import and not needed to relay a chat completion.
NOT_ON_HOT_PATH = ("boto3", "botocore", "aws_lambda_powertools", "yaml", "llm_agg.agent", "moto")
NEEDED_BY = {"agent_function": ("llm_agg.agent",)}  # what a function is there to run
GOAL = 0.2
GOAL_MS = 250  # issue 17: the chat function's cold import, Lambda layout
# What `python -m uvicorn ... --loop uvloop --http httptools` (functions/run.sh) has imported
# before it imports the app's module on Lambda.
UVICORN = (
    "uvicorn.main",
    "uvicorn.server",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
)
# Set for every function by template.yaml, and read at a cold start.
TEMPLATE_ENV = ("POWERTOOLS_METRICS_NAMESPACE", "PYDANTIC_DISABLE_PLUGINS")

# Runs in the measured interpreter: import, then report RSS (and build_app's time if asked).
CHILD = """
import json, os, sys, time
class Absent:  # --layer-only: what the Lambda layer does not install cannot be imported
    names = set(filter(None, os.environ.get("COLDSTART_ABSENT", "").split(",")))
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
for first in filter(None, os.environ.get("COLDSTART_FIRST", "").split(",")):
    __import__(first)  # --after-uvicorn: what run.sh's uvicorn has loaded before the app
sys.stderr.write("coldstart: the module\\n")  # -X importtime's lines after this are its
sys.stderr.flush()
t0 = time.perf_counter()
module = __import__(sys.argv[1])
imported = time.perf_counter() - t0
loaded = sorted(sys.modules)  # before build_app: what importing the module costs
built = None
if sys.argv[2] == "build":
    t1 = time.perf_counter()
    module.build_app()
    built = time.perf_counter() - t1
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
print(json.dumps({"wall": imported, "build": built, "rss_kb": rss, "modules": loaded}))
"""


def not_in_layer() -> list[str]:
    """Top-level modules of the packages installed here that layers/common/requirements.txt
    does not ship: on Lambda they are absent (httpx, for one, then skips its optional CLI and
    its rich/pygments imports)."""
    from importlib.metadata import packages_distributions

    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")

    lines = (ROOT / "layers/common/requirements.txt").read_text().splitlines()
    shipped = {norm(line.split("==")[0]) for line in lines if "==" in line and line[0].isalnum()}
    ours = {"llm_agg", *function_modules()}
    return sorted(
        top
        for top, dists in packages_distributions().items()
        if top not in ours
        and not top.startswith("_")
        and not any(norm(d) in shipped for d in dists)
    )


def function_modules(root: Path = ROOT) -> dict[str, Path]:
    return {path.stem: path.parent for path in sorted(root.glob("functions/*/*_function.py"))}


def layer_code(root: Path, into: Path) -> tuple[Path, str]:
    """The layer's llm_agg as ``root``'s layers/common/Makefile lays it out (``make code``:
    copied, and compiled as Lambda gets it, which nothing can write .pyc files to), in
    ``into``; this virtualenv's packages stand in for the rest of the layer. A checkout whose
    Makefile has no ``code`` rule (it shipped source only) is read from its source tree, as its
    layer was."""
    command = ["make", "-s", "-C", str(root / "layers/common"), "code"]
    variables = [f"ARTIFACTS_DIR={into}", f"PYTHON={sys.executable}"]
    done = subprocess.run([*command, *variables], capture_output=True, text=True)
    if done.returncode == 0:
        return into / "python", "compiled (make code)"
    return root / "layers/common", "source"


def template_env(root: Path) -> dict[str, str]:
    """The variables of ``root``'s template.yaml (Globals) that shape a cold start here."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !Ref, !GetAtt...
    template = yaml.load((root / "template.yaml").read_text(), Loader=Loader)  # noqa: S506
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {name: variables[name] for name in TEMPLATE_ENV if name in variables}


def lambda_env(folders: list[Path], layer: Path, root: Path = ROOT) -> dict[str, str]:
    """Lambda's view: the layer and the function folders on the path, a function name set."""
    paths = [str(layer), *map(str, folders)]
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)  # as the checkout's template says, below
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(paths),
        "LLM_AGG_CONFIG": str(ROOT / "config/providers.yaml"),
        "AWS_REGION": "us-east-1",
        **template_env(root),
    }


def parse_importtime(stderr: str, module: str) -> tuple[float, dict[str, float]]:
    """The module's cumulative import time (µs) and every imported package's cumulative time."""
    total = 0.0
    packages: dict[str, float] = {}
    for line in stderr.partition("coldstart: the module\n")[2].splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        package = name.strip()
        packages[package] = max(packages.get(package, 0.0), float(cumulative))
        if name.rstrip() == f" {module}":  # top level: no indentation after the bar
            total = float(cumulative)
    return total, packages


def measure(python: str, label: str, env: dict[str, str], build: bool) -> dict[str, Any]:
    module = label.split("@")[0]  # "chat_function@baseline": the baseline checkout's
    command = [python, "-X", "importtime", "-c", CHILD, module, "build" if build else "-"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{module}: {done.stderr.strip().splitlines()[-1]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["import_us"], packages = parse_importtime(done.stderr, module)
    # build_app's own imports (Powertools on Lambda) are not the module's import cost.
    loaded = set(result.pop("modules"))
    result["packages"] = {name: us for name, us in packages.items() if name in loaded}
    return result


def litellm_python() -> str:
    """The interpreter of bench/.venv-litellm, installed the way bench/run.py installs it."""
    log = ROOT / "bench/results/litellm-install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    ensure_litellm(LITELLM_SPEC, log)
    return str(LITELLM_VENV / "bin/python")


def heaviest(packages: dict[str, float], module: str, count: int = 8) -> list[tuple[str, float]]:
    """The largest top-level packages under ``module`` (children counted in their parent)."""
    tops: dict[str, float] = {}
    for name, micros in packages.items():
        top = name.split(".")[0]
        if top != module:
            tops[top] = max(tops.get(top, 0.0), micros)
    return sorted(tops.items(), key=lambda item: -item[1])[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM comparison")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/before main`): its chat module is "
        "measured too, interleaved, as chat_function@baseline",
    )
    parser.add_argument(
        "--layer-only",
        action="store_true",
        help="packages installed here but not shipped in the Lambda layer cannot be imported "
        "(as on Lambda); by default this virtualenv's packages are all importable",
    )
    parser.add_argument(
        "--after-uvicorn",
        action="store_true",
        help="also the chat module imported after the uvicorn modules run.sh loads first on "
        "Lambda (asyncio, logging, ssl, click...): its own share of a start there",
    )
    args = parser.parse_args(argv)

    modules = function_modules()
    scratch = Path(tempfile.mkdtemp(prefix="coldstart-"))
    layer, layout = layer_code(ROOT, scratch / "layer")
    layouts = {"": layout}
    env = lambda_env(list(modules.values()), layer)
    if args.layer_only:
        env["COLDSTART_ABSENT"] = ",".join(not_in_layer())
    lambda_like = {**env, "AWS_LAMBDA_FUNCTION_NAME": "llm-agg-bench"}
    targets: dict[str, tuple[str, dict[str, str], bool]] = {
        name: (sys.executable, lambda_like, True) for name in modules
    }
    if args.baseline:
        base = args.baseline.resolve()
        base_layer, layouts["@baseline"] = layer_code(base, scratch / "baseline")
        base_env = lambda_env(list(function_modules(base).values()), base_layer, base)
        base_env["COLDSTART_ABSENT"] = env.get("COLDSTART_ABSENT", "")
        base_env["AWS_LAMBDA_FUNCTION_NAME"] = "llm-agg-bench"
        targets["chat_function@baseline"] = (sys.executable, base_env, True)
    if args.after_uvicorn:  # the module's own share of a Lambda start, uvicorn's modules loaded
        targets["chat_function@after-uvicorn"] = (
            sys.executable,
            {**lambda_like, "COLDSTART_FIRST": ",".join(UVICORN)},
            True,
        )
    if not args.no_litellm:
        offline = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
        theirs = {k: v for k, v in env.items() if k != "COLDSTART_ABSENT"}  # its own venv
        targets["litellm"] = (litellm_python(), {**theirs, **offline}, False)

    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    try:
        for _ in range(args.runs):  # interleaved, so drift in machine load hits every target alike
            for name, (python, target_env, build) in targets.items():
                samples[name].append(measure(python, name, target_env, build))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = {}
    for name, runs in samples.items():
        builds = [r["build"] for r in runs if r["build"] is not None]
        rows[name] = {
            "import_ms": statistics.median(r["import_us"] for r in runs) / 1000,
            "rss_mb": statistics.median(r["rss_kb"] for r in runs) / 1024,
            "build_app_ms": statistics.median(builds) * 1000 if builds else None,
            "heaviest": heaviest(runs[-1]["packages"], name.split("@")[0]),
            "not_on_hot_path": sorted(
                {
                    heavy
                    for package in runs[-1]["packages"]
                    for heavy in NOT_ON_HOT_PATH
                    if heavy not in NEEDED_BY.get(name, ())
                    and (package == heavy or package.startswith(heavy + "."))
                }
            ),
        }

    print(f"{'module':<28}{'import (median)':>17}{'RSS after':>12}{'build_app, Lambda env':>24}")
    for name, row in rows.items():
        build = f"{row['build_app_ms']:.1f} ms" if row["build_app_ms"] is not None else "-"
        print(f"{name:<28}{row['import_ms']:>14.1f} ms{row['rss_mb']:>9.1f} MB{build:>24}")
    print(f"({args.runs} runs each, interleaved; python {sys.version.split()[0]})")
    for suffix, how in layouts.items():
        print(f"llm_agg{' of the baseline' if suffix else ''}: {how}")
    for name, row in rows.items():
        listed = ", ".join(f"{pkg} {us / 1000:.1f} ms" for pkg, us in row["heaviest"])
        print(f"\n{name} pulls in most: {listed}")
        if row["not_on_hot_path"] and name != "litellm":
            print(f"  imported, though not needed to serve: {', '.join(row['not_on_hot_path'])}")

    if "chat_function" in rows:
        chat_ms = rows["chat_function"]["import_ms"]
        met = "met" if chat_ms <= GOAL_MS else "NOT met"
        print(f"\nchat_function import: {chat_ms:.1f} ms (goal <= {GOAL_MS} ms): {met}")
        if "chat_function@baseline" in rows:
            ratio = chat_ms / rows["chat_function@baseline"]["import_ms"]
            print(f"chat_function / its baseline's import time: {ratio:.3f}")
    verdict = None
    if "litellm" in rows and "chat_function" in rows:
        ratio = rows["chat_function"]["import_ms"] / rows["litellm"]["import_ms"]
        verdict = ratio <= GOAL
        print(
            f"\nchat_function / litellm import time: {ratio:.3f} (goal <= {GOAL}): "
            f"{'met' if verdict else 'NOT met'}"
        )

    out = ROOT / "bench/results" / f"coldstart-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"runs": args.runs, "layouts": layouts, "rows": rows, "goal_met": verdict}, indent=1
        )
    )
    print(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
