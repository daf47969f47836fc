"""Where the local server logs, and its file rotating under several worker processes."""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path

import uvicorn.config

from llm_agg.settings import Settings
from llm_agg_local.logfile import (
    LOG_FILE,
    SharedRotatingFileHandler,
    log_path,
    open_problem,
    uvicorn_log_config,
)


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LLM_AGG_DATA_DIR": str(tmp_path / "data"), **env})


def test_the_log_is_in_the_data_folder_unless_llm_agg_log_file_moves_it(tmp_path: Path) -> None:
    assert log_path(settings(tmp_path)) == tmp_path / "data" / LOG_FILE
    assert LOG_FILE == "llm_aggregator.log"  # the name the usage guide tails
    moved = settings(tmp_path, LLM_AGG_LOG_FILE=str(tmp_path / "logs/gw.log"))
    assert log_path(moved) == tmp_path / "logs/gw.log"
    assert log_path(settings(tmp_path, LLM_AGG_LOG_FILE="-")) is None
    home = log_path(settings(tmp_path, LLM_AGG_LOG_FILE="~/gw.log"))
    assert home is not None and "~" not in str(home)


def test_a_log_file_that_cannot_be_written_is_said_with_what_to_do(tmp_path: Path) -> None:
    assert open_problem(tmp_path / "new/folder/gw.log") is None
    (tmp_path / "a-file").write_text("")
    problem = open_problem(tmp_path / "a-file" / "gw.log")
    assert problem is not None
    assert "LLM_AGG_LOG_FILE" in problem and str(tmp_path / "a-file") in problem


def test_the_file_gets_the_consoles_lines_timestamped(tmp_path: Path) -> None:
    path = tmp_path / "gw.log"
    config = uvicorn_log_config(uvicorn.config.LOGGING_CONFIG, "info", path)
    assert config["loggers"]["llm_agg"]["handlers"] == ["default", "file"]
    assert config["loggers"]["uvicorn"]["handlers"] == ["default", "file"]
    assert uvicorn.config.LOGGING_CONFIG["loggers"]["uvicorn"]["handlers"] == ["default"]
    logging.config.dictConfig(config)
    try:
        logging.getLogger("llm_agg.dispatch").info("attempt failed: provider=groq")
        logging.getLogger("uvicorn.error").info("Application startup complete.")
        logging.getLogger("llm_agg.dispatch").debug("below the level")
    finally:
        for name in ("llm_agg", "uvicorn"):
            for handler in logging.getLogger(name).handlers:
                handler.close()
            logging.getLogger(name).handlers = []
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("INFO:     attempt failed: provider=groq")
    assert lines[1].endswith("INFO:     Application startup complete.")
    assert all(line[:4].isdigit() and line[4] == "-" for line in lines)  # 2026-12-06 10:00:…


def test_no_log_file_leaves_the_console_alone(tmp_path: Path) -> None:
    config = uvicorn_log_config(uvicorn.config.LOGGING_CONFIG, "warning", None)
    assert "file" not in config["handlers"]
    assert config["loggers"]["llm_agg"] == {
        "handlers": ["default"],
        "level": "WARNING",
        "propagate": False,
    }


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("llm_agg", logging.INFO, __file__, 1, message, None, None)


def test_a_worker_follows_a_rotation_another_worker_made(tmp_path: Path) -> None:
    path = tmp_path / "gw.log"
    # Two workers, each with its own handler on the one file.
    first = SharedRotatingFileHandler(path, maxBytes=200, backupCount=3, encoding="utf-8")
    second = SharedRotatingFileHandler(path, maxBytes=200, backupCount=3, encoding="utf-8")
    try:
        second.emit(_record("second: before"))
        for n in range(6):
            first.emit(_record(f"first: {n} " + "x" * 40))
        assert (tmp_path / "gw.log.1").exists()  # the first rotated
        second.emit(_record("second: after"))
    finally:
        first.close()
        second.close()
    current = path.read_text()
    assert "second: after" in current
    rotated = sorted(tmp_path.glob("gw.log.*"))
    # Following, not rotating again: one backup holds what the first rotated away.
    assert [p.name for p in rotated] == ["gw.log.1"]
    assert "second: before" in rotated[0].read_text()
