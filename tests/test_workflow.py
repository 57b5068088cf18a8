"""The Snakemake workflow, driven as a user drives it: `snakemake` in a study directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
TINY = {
    "seed": 3,
    "bootstrap": 1000,
    "ci": 0.99,  # six rows, each must cover its exact value
    "gradients": [
        {"name": "tiny", "ansatz": "rx_product", "qubits": [2, 3, 4], "depths": [1],
         "costs": ["global", "local"], "samples": 4000, "chunk": 2000},
    ],
}


def run(study: Path, config: dict, *args: str, wait: bool = True):
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "--directory", str(study), "--configfile", str(study / "config.yaml"), "--cores", "2", *args]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def shards(study: Path) -> list[Path]:
    return sorted((study / "results/shards").rglob("*.parquet"))


def test_tiny_study_runs_end_to_end_and_matches_the_exact_variances(tmp_path):
    done = run(tmp_path, TINY)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_parquet(tmp_path / "results/tables/gradients.parquet")
    assert len(table) == 3 * 2  # one row per point and parameter (params: first)
    for column in ("sweep", "ansatz", "n_qubits", "depth", "cost_function", "param_index", "n_samples",
                   "grad_var", "grad_var_lo", "grad_var_hi", "n_chunks", "qnnscope_version"):
        assert column in table.columns
    assert (table["n_samples"] == 4000).all() and (table["n_chunks"] == 2).all()
    n = table["n_qubits"]
    exact = (table["cost_function"] == "global") * (0.125 * 0.375 ** (n - 1)) + (
        table["cost_function"] == "local") / (8 * n**2)
    assert ((table["grad_var_lo"] <= exact) & (exact <= table["grad_var_hi"])).all(), table
    fits = pd.read_parquet(tmp_path / "results/tables/scaling_fits.parquet")
    assert set(fits["cost_function"]) == {"global", "local"}
    assert len(list((tmp_path / "results/logs").rglob("*.log"))) == len(shards(tmp_path)) + 2


def test_adding_a_qubit_count_schedules_only_the_new_points(tmp_path):
    assert run(tmp_path, TINY).returncode == 0
    bigger = yaml.safe_load(yaml.safe_dump(TINY))
    bigger["gradients"][0]["qubits"].append(5)
    dry = run(tmp_path, bigger, "-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    counts = {line.split()[0]: int(line.split()[1]) for line in dry.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["gradient_shard"] == 2 * 2  # two costs x two chunks of n = 5
    assert counts["gradient_table"] == 1 and counts["scaling_fits"] == 1


def test_a_killed_run_resumes_without_recomputing_finished_shards(tmp_path):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["gradients"][0]["samples"] = 8000  # 4 chunks per point, 24 jobs
    proc = run(tmp_path, config, "--cores", "1", wait=False)
    deadline = time.time() + 300
    while len(shards(tmp_path)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in shards(tmp_path)}
    assert 2 <= len(finished) < 24
    done = run(tmp_path, config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(shards(tmp_path)) == 24
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # none computed twice


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda b: b.update(ansatz="brickwall"), "ansatz"),
        (lambda b: b.update(samples=-5), "samples"),
        (lambda b: b.update(qubits=[]), "qubits"),
        (lambda b: b.update(qubit=[2, 3]), "qubit"),
        (lambda b: b.update(costs=["zz"], qubits=[1, 2]), "gradients[0].cost"),
    ],
    ids=["unknown-ansatz", "negative-samples", "empty-qubits", "misspelled-key", "cost-on-too-few-qubits"],
)
def test_malformed_configs_are_rejected_before_any_job_runs(tmp_path, change, key):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    change(config["gradients"][0])
    done = run(tmp_path, config)
    assert done.returncode != 0
    assert key in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


def test_the_default_config_dry_runs():
    done = subprocess.run([*SNAKEMAKE, "--directory", str(ROOT), "-n", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_ten_thousand_point_config_dry_runs(tmp_path):
    block = {"name": "big", "ansatz": "rx_product", "qubits": list(range(2, 27)), "depths": list(range(1, 51)),
             "costs": ["global", "local"], "inits": ["uniform", "uniform_sym", "uniform_half", "normal"],
             "sigma": 0.1, "samples": 1000}
    done = run(tmp_path, {"gradients": [block]}, "-n", "--quiet", "rules")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gradient_shard    10000" in done.stdout
    assert not (tmp_path / "results").exists()
