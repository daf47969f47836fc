"""What a cold start of the chat function imports: not what it does not serve. Each of these
was a share of its import time (bench/coldstart.py) or of a local worker's memory
(bench/worker_rss.py); this keeps them out, without timing anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_PATH = ("layers/common", "functions/chat")
# Loaded by the first request that needs them (or never, on the chat path).
NOT_AT_IMPORT = (
    "fastapi",  # only the admin app is FastAPI
    "cryptography",  # the first stored secret sealed or opened
    "boto3",  # only with the DynamoDB store
    "aws_lambda_powertools",  # build_app on Lambda
    "llm_agg.api.messages",  # the first /v1/messages request
    "llm_agg.api.responses",  # the first /v1/responses request
    "llm_agg.agent",
    "llm_agg.admin",
    "llm_agg.openapi",
)
# Loaded by build_app only when the catalog is not the layer's own (prebuilt at its build).
NOT_FROM_THE_LAYER = ("yaml",)


def loaded_by(code: str, data_dir: Path, *folders: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` with ``folders`` (the
    Lambda layout: the layer and the function's folder) first on its path."""
    path = ":".join(str(ROOT / folder) for folder in folders)
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={
            "PYTHONPATH": path,
            "LLM_AGG_CONFIG": str(ROOT / "config/providers.yaml"),
            "LLM_AGG_DATA_DIR": str(data_dir),
        },
    )
    return set(done.stdout.split())


def heavy(modules: set[str], names: tuple[str, ...] = NOT_AT_IMPORT) -> set[str]:
    return {name for name in names for m in modules if m == name or m.startswith(name + ".")}


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """llm_agg as the layer ships it (layers/common/Makefile's ``make code``)."""
    into = tmp_path_factory.mktemp("layer")
    make = ["make", "-s", "-C", str(ROOT / "layers/common"), "code"]
    subprocess.run([*make, f"ARTIFACTS_DIR={into}", f"PYTHON={sys.executable}"], check=True)
    return into / "python"


def test_the_chat_function_imports_nothing_it_does_not_need_to_serve_chat(tmp_path: Path) -> None:
    loaded = loaded_by("import chat_function", tmp_path, *LAMBDA_PATH)
    assert heavy(loaded, NOT_AT_IMPORT + NOT_FROM_THE_LAYER) == set()


def test_the_chat_app_built_from_the_layer_reads_its_catalog_without_yaml(
    tmp_path: Path, layer: Path
) -> None:
    code = "import chat_function\nchat_function.build_app()"
    loaded = loaded_by(code, tmp_path, str(layer), "functions/chat")
    assert heavy(loaded, NOT_AT_IMPORT + NOT_FROM_THE_LAYER) == set()


def test_the_chat_app_built_off_lambda_still_loads_none_of_it(tmp_path: Path) -> None:
    loaded = loaded_by("import chat_function\nchat_function.build_app()", tmp_path, *LAMBDA_PATH)
    assert heavy(loaded) == set()
