"""Atomic outputs, shard metadata (what lets a re-run batch keep finished shards) and job logs."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from qnnscope.gradients.point import GradientPoint
from qnnscope.gradients.shards import shard_is_current, write_shard
from qnnscope.io import atomic_output, read_metadata, write_html_table

POINT = GradientPoint("rx_product", 3, 1, cost="local")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        Path(tmp).write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def _dead_pid() -> int:
    """The PID of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    host = re.sub(r"[^A-Za-z0-9_-]", "_", platform.node())
    dead = f".t.txt.{host}-{_dead_pid()}.abc123.tmp"
    (tmp_path / dead).write_text("left by SIGKILL")
    (tmp_path / f".other.txt.{host}-{_dead_pid()}.abc123.tmp").write_text("another target's: kept")
    with atomic_output(tmp_path / "t.txt") as tmp:
        Path(tmp).write_text("new")
    assert dead not in {p.name for p in tmp_path.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == "t.txt" and len(list(tmp_path.iterdir())) == 2
    assert (tmp_path / "t.txt").read_text() == "new"


def test_a_concurrent_writers_temporary_survives_another_write_of_the_same_file(tmp_path):
    """Two runs writing one target: neither deletes the other's temporary file mid-write."""
    target = tmp_path / "t.txt"
    with atomic_output(target) as first:
        Path(first).write_text("first")
        with atomic_output(target) as second:
            Path(second).write_text("second")
        assert Path(first).read_text() == "first"
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_shard_is_current_only_for_its_own_point_chunk_samples_and_seed(tmp_path):
    path = tmp_path / "s.parquet"
    assert not shard_is_current(path, POINT, 50, 1, 7)  # missing
    write_shard(path, POINT, 50, 1, 7, extra={"sweep": "s", "depth_rule": "1"})
    frame = pd.read_parquet(path)
    assert list(frame.columns[:2]) == ["sweep", "depth_rule"] and len(frame) == 50
    assert read_metadata(path)["base_seed"] == 7
    assert shard_is_current(path, POINT, 50, 1, 7)
    assert shard_is_current(path, replace(POINT, device="cuda"), 50, 1, 7)  # where it ran is provenance
    assert not shard_is_current(path, POINT, 60, 1, 7)  # samples raised: the last chunk grows
    assert not shard_is_current(path, POINT, 50, 2, 7)
    assert not shard_is_current(path, POINT, 50, 1, 8)
    assert not shard_is_current(path, replace(POINT, params="all"), 50, 1, 7)
    assert not shard_is_current(path, replace(POINT, cost="global"), 50, 1, 7)
    path.write_bytes(b"not parquet")
    assert not shard_is_current(path, POINT, 50, 1, 7)


def test_html_tables_show_every_row_and_column(tmp_path):
    frame = pd.DataFrame({"cost_function": ["global", "local"], "grad_var": [1.234567e-5, 0.5]})
    html = write_html_table(frame, tmp_path / "t.html", title="demo").read_text()
    assert "<td>global</td>" in html and "<td>1.235e-05</td>" in html and "2 rows, 2 columns" in html


def test_a_job_log_records_the_traceback_of_a_failed_job(tmp_path):
    log = tmp_path / "logs" / "job.log"
    code = f"from qnnscope.logs import job_log\nlog = job_log({str(log)!r})\nlog.info('started')\nraise ValueError('bad point')\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    text = log.read_text()
    assert "started" in text and "job failed" in text and "ValueError: bad point" in text
