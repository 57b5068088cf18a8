"""Logging for workflow jobs: every rule writes a log under ``results/logs/``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def job_log(path: str | Path) -> logging.Logger:
    """Send log records to ``path`` (and stderr) and record an uncaught exception's traceback
    there too, so a failed job's log says why it failed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handlers = [logging.FileHandler(path, encoding="utf-8"), logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    logger = logging.getLogger("qnnscope.job")

    def log_exception(kind, value, traceback):
        logger.critical("job failed", exc_info=(kind, value, traceback))

    sys.excepthook = log_exception
    return logger
