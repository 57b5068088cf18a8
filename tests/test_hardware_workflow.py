"""The hardware part of the workflow end to end on a fake backend: submit → stop → collect while
the jobs are 'queued' → rerun → collected, every job submitted exactly once, no token written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from qnnscope.backends.ibm import FAKE_STATUS_ENV, scan_for_secret

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "dummy-token-workflow-5b0c1d2e3f4a5b6c7d8e9f00112233445566"
STUDY = {
    "seed": 3,
    "hardware": {
        "backend": "fake_manila",
        "max_jobs": 4,
        "max_shots": 100_000,
        "pubs_per_job": 30,
        "sweeps": [{"name": "mcclean_small", "ansatz": "mcclean", "qubits": [2], "depths": [1, 2], "costs": ["zz"],
                    "samples": 10, "shots": [1000]}],
    },
}

FIGURE = "results/figures/hardware/mcclean_small/variance_comparison.png"


def run(study: Path, config: dict, *targets: str, env: dict | None = None):
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(study),
           "--configfile", str(study / "config.yaml"), "--cores", "2", *targets]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600,
                          env=os.environ | {"QISKIT_IBM_TOKEN": TOKEN} | (env or {}))


def test_hardware_submit_stop_rerun_collects_each_job_once(tmp_path):
    points = [tmp_path / f"results/hardware/mcclean_small/backend~fake_manila/ansatz~mcclean/n~2/depth~{d}/cost~zz/"
              f"init~uniform/params~first/samples~10/shots~1000" for d in (1, 2)]
    manifests = [str((p / "manifest.json").relative_to(tmp_path)) for p in points]

    # 1. submit only, as if the workflow were stopped while the jobs wait in the queue
    done = run(tmp_path, STUDY, *manifests)
    assert done.returncode == 0, done.stdout + done.stderr
    first = [json.loads((tmp_path / m).read_text()) for m in manifests]
    assert all(oct((tmp_path / m).stat().st_mode & 0o777) == oct(0o444) for m in manifests)
    assert [len(m["jobs"]) for m in first] == [1, 1] and all(m["complete"] for m in first)

    # 2. the jobs are still queued: collection stops with a clear status and writes nothing
    queued = run(tmp_path, STUDY, "results/tables/hardware.parquet", env={FAKE_STATUS_ENV: "QUEUED"})
    assert queued.returncode != 0
    logs = "".join(p.read_text() for p in (tmp_path / "results/logs/hardware").rglob("collect.log"))
    assert "1 jobs still queued or running" in logs and "rerun later" in logs
    assert not any((p / "counts.parquet").exists() for p in points)

    # 3. rerun (with a raised budget, which must not disturb the manifests): collected, nothing submitted again
    raised = json.loads(json.dumps(STUDY))
    raised["hardware"]["max_jobs"] = 6
    done = run(tmp_path, raised, "results/tables/hardware.parquet", FIGURE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [json.loads((tmp_path / m).read_text()) for m in manifests] == first
    ledger = [json.loads(line) for line in (tmp_path / "results/hardware/submissions.jsonl").read_text().splitlines()]
    assert sorted(r["job_id"] for r in ledger) == sorted(j["job_id"] for m in first for j in m["jobs"])
    table = pd.read_parquet(tmp_path / "results/tables/hardware.parquet")
    assert sorted(table["depth"]) == [1, 2] and (table["n_samples"] == 10).all() and (table["shots"] == 1000).all()
    for p in points:
        estimates = pd.read_parquet(p / "estimates.parquet")
        assert len(estimates) == 10 and estimates["grad"].abs().max() <= 1
    # the device's noise model next to the counts: below the exact variance, and the counts' variance
    # within its CI-sized reach of model + shot noise
    assert (table["grad_var_noisy"] < table["grad_var_exact"]).all()
    assert (table["grad_var_expected"] == table["grad_var_noisy"] + table["shot_excess"]).all()
    assert ((table["grad_var_lo"] < table["grad_var_expected"]) & (table["grad_var_expected"] < table["grad_var_hi"])).all()
    assert (tmp_path / FIGURE).stat().st_size > 0 and (tmp_path / FIGURE.replace(".png", ".pdf")).stat().st_size > 0
    assert (tmp_path / "results/logs/figures/hardware/mcclean_small/variance_comparison.log").exists()

    # 4. a third run has nothing to do and submits nothing
    again = run(tmp_path, raised, "results/tables/hardware.parquet", FIGURE)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert len((tmp_path / "results/hardware/submissions.jsonl").read_text().splitlines()) == len(ledger) == 2

    # the dummy token is nowhere in what the runs wrote (results, logs, snakemake's metadata)
    assert scan_for_secret(tmp_path, TOKEN) == []


def test_budget_over_the_limit_refuses_before_anything_runs(tmp_path):
    study = json.loads(json.dumps(STUDY))
    study["hardware"]["max_shots"] = 50_000  # 2 points x 30 circuits x 1000 shots = 60000
    done = run(tmp_path, study, "results/tables/hardware.parquet")
    assert done.returncode != 0
    assert "hardware.max_shots: this needs 60000 shots, over the limit 50000" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()
