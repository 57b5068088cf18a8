"""Logging for workflow jobs: every rule writes a log under ``results/logs/``."""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SLURM_IDS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID")


def job_log(path: str | Path) -> logging.Logger:
    """Send log records to ``path`` (and stderr) and record an uncaught exception's traceback
    there too, so a failed job's log says why it failed.  The first record names the host and,
    under SLURM, the job's ids, so the log shows where and through which sbatch job it ran."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handlers = [logging.FileHandler(path, encoding="utf-8"), logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    logger = logging.getLogger("qnnscope.job")

    def log_exception(kind, value, traceback):
        logger.critical("job failed", exc_info=(kind, value, traceback))

    sys.excepthook = log_exception
    slurm = " ".join(f"{key}={os.environ[key]}" for key in SLURM_IDS if os.environ.get(key))
    logger.info("host %s, %s", socket.gethostname(), slurm or "not a SLURM job")
    return logger
