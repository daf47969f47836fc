"""The local server's log file: the console's log lines, timestamped, in a size-rotated file.

``LLM_AGG_LOG_FILE`` names it (``-``: no file); by default it is ``llm_aggregator.log`` in the
data folder. Every worker process writes to it: a worker notices when another one has rotated
the file and follows to the new one, instead of rotating again what it still holds open.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from logging import LogRecord
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from llm_agg.settings import Settings

LOG_FILE = "llm_aggregator.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5  # llm_aggregator.log.1 … .5: at most ~60 MB in all
FORMAT = "%(asctime)s %(levelprefix)s %(message)s"


def log_path(settings: Settings) -> Path | None:
    """Where the server logs, or None when ``LLM_AGG_LOG_FILE`` is ``-``."""
    chosen = settings.environ.get("LLM_AGG_LOG_FILE", "").strip()
    if chosen == "-":
        return None
    return Path(chosen).expanduser() if chosen else settings.data_dir / LOG_FILE


def open_problem(path: Path) -> str | None:
    """Why ``path`` cannot be logged to, said before serving rather than by a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        return (
            f"cannot write the log file {path}: {exc.strerror or exc}; "
            "set LLM_AGG_LOG_FILE to another path, or to - for none"
        )
    return None


class SharedRotatingFileHandler(RotatingFileHandler):
    """A ``RotatingFileHandler`` that reopens the file when another process rotated it."""

    def shouldRollover(self, record: LogRecord) -> int:
        if self.stream is not None and _rotated_elsewhere(self.baseFilename, self.stream.fileno()):
            self.stream.close()
            self.stream = self._open()
        return super().shouldRollover(record)


def _rotated_elsewhere(path: str, held: int) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return True
    mine = os.fstat(held)
    return (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino)


def uvicorn_log_config(base: Mapping[str, Any], level: str, path: Path | None) -> dict[str, Any]:
    """uvicorn's logging config (``base``) with the package's loggers on the console, and
    everything the console shows also written to ``path``."""
    config = copy.deepcopy(dict(base))
    handlers = ["default"]
    if path is not None:
        config["formatters"]["file"] = {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": FORMAT,
            "use_colors": False,
        }
        config["handlers"]["file"] = {
            "class": f"{__name__}.SharedRotatingFileHandler",
            "formatter": "file",
            "filename": str(path),
            "maxBytes": MAX_BYTES,
            "backupCount": BACKUPS,
            "encoding": "utf-8",
        }
        handlers.append("file")
        config["loggers"]["uvicorn"]["handlers"] = handlers
    config["loggers"]["llm_agg"] = {
        "handlers": handlers,
        "level": level.upper(),
        "propagate": False,
    }
    return config
