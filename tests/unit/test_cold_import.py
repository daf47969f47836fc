"""What a cold start of the chat function imports: not what it does not serve. Each of these
was a share of its import time (bench/coldstart.py) or of a local worker's memory
(bench/worker_rss.py); this keeps them out, without timing anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def heavy(modules: set[str]) -> set[str]:
    return {
        name for name in NOT_AT_IMPORT for m in modules if m == name or m.startswith(name + ".")
    }


def test_the_chat_function_imports_nothing_it_does_not_need_to_serve_chat(tmp_path: Path) -> None:
    loaded = loaded_by("import chat_function", tmp_path, *LAMBDA_PATH)
    assert heavy(loaded) == set()


def test_the_chat_app_built_off_lambda_still_loads_none_of_it(tmp_path: Path) -> None:
    loaded = loaded_by("import chat_function\nchat_function.build_app()", tmp_path, *LAMBDA_PATH)
    assert heavy(loaded) == set()
