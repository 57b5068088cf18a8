"""benchmarks/gpu.sh and its benchmarks work without a GPU where they must: the script parses, its
dry run installs nothing, prints its stages and runs ``bench_gpu.py --dry-run``, which picks the
CUDA path only where torch sees a GPU; bench_memory reads ``/usr/bin/time -v``'s report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_gpu  # noqa: E402
import bench_memory  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks/gpu.sh"
CUDA = torch.cuda.is_available()

TIME_V = """\
\tCommand being timed: "python -c pass"
\tUser time (seconds): 12.34
\tSystem time (seconds): 1.50
\tPercent of CPU this job got: 180%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02.50
\tAverage shared text size (kbytes): 0
\tMaximum resident set size (kbytes): 1048576
\tMajor (requiring I/O) page faults: 0
\tExit status: 0
"""


@pytest.fixture(scope="module")
def dry_run() -> subprocess.CompletedProcess:
    # the venv of this interpreter, so that nothing is created or installed anywhere
    env = {**os.environ, "QNNSCOPE_GPU_VENV": sys.prefix, "QNNSCOPE_GPU_PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), "--dry-run"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=150)


def test_the_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)


def test_the_dry_run_prints_the_stages_and_exits_0(dry_run):
    out = dry_run.stdout
    assert dry_run.returncode == 0, out + dry_run.stderr
    assert "nothing is installed" in out and "syntax: ok" in out
    for stage in ("1 setup", "2 gpu", "3 tests", "4 bench"):
        assert stage in out
    assert "pip install torch==2.13.0" in out and "-k cuda" in out and "tests/test_engine.py" in out
    assert "Successfully installed" not in out + dry_run.stderr


def test_the_dry_run_builds_the_smallest_row_and_prints_the_headers(dry_run):
    out = dry_run.stdout
    assert "table first: mcclean n=16" in out and "table all: hea n=16" in out
    assert out.count("| n | samples | s / run |") == 2
    device = "cuda" if CUDA else "cpu"
    assert f"smoke cells on {device}" in out
    assert "device: cuda (CUDA available)" in out if CUDA else "torch sees no CUDA device" in out


def test_the_device_path():
    assert bench_gpu.select_device("cuda", True)[0] == "cuda"
    assert bench_gpu.select_device("cuda:1", True)[0] == "cuda:1"
    device, why = bench_gpu.select_device("cuda", False)
    assert device is None and "needs a CUDA GPU" in why
    assert bench_gpu.select_device("cpu", False)[0] == "cpu"


@pytest.mark.skipif(CUDA, reason="checks the refusal without a GPU")
def test_a_real_run_without_cuda_refuses_and_says_why():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks/bench_gpu.py"), "--qubits", "4"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "torch sees no CUDA device" in run.stdout


def test_bench_memory_reads_time_v():
    report = bench_memory.parse_time_v(TIME_V)
    assert report["max_rss_bytes"] == 1024**3
    assert report["elapsed_s"] == pytest.approx(62.5)
    assert report["user_s"] == pytest.approx(12.34) and report["system_s"] == pytest.approx(1.5)
    assert report["exit_status"] == 0
    assert bench_memory.parse_time_v("h:mm:ss\n\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:00:01\n") == {
        "elapsed_s": 3601.0}


def test_bench_memory_without_usr_bin_time_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(bench_memory, "TIME", "/nonexistent/time")
    assert bench_memory.main(["--qubits", "4"]) == 2
    assert "apt-get install time" in capsys.readouterr().err
