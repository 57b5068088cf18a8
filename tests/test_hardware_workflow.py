"""The hardware part of the workflow end to end on a fake backend: submit → stop → collect while
the jobs are 'queued' → rerun → collected, every job submitted exactly once, no token written."""

from __future__ import annotations

import io
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


def _ledger(study: Path) -> list[dict]:
    path = study / "results/hardware/submissions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _manifest_jobs(study: Path) -> dict[str, list[str]]:
    return {str(p.relative_to(study)): [j["job_id"] for j in json.loads(p.read_text())["jobs"]]
            for p in sorted((study / "results/hardware").rglob("manifest.json"))}


SPLIT = json.loads(json.dumps(STUDY))
SPLIT["hardware"] |= {"pubs_per_job": 8, "max_jobs": 8}  # 30 circuits a point: 4 jobs each, 8 in all


def test_concurrent_runs_and_forced_reruns_submit_each_planned_job_once(tmp_path):
    """Two `snakemake` runs of the same study started together (the default profile does not lock)
    submit exactly the planned jobs, in every trial: each job id is in one manifest and once in
    the ledger, each circuit in one job.  Then `--forcerun hardware_submit` and `--forceall`
    (which make Snakemake delete and rerun the submission) submit nothing: the ledger rebuilds
    the manifests."""
    target = "results/tables/hardware.parquet"
    for trial in range(3):
        study = tmp_path / f"trial{trial}"
        study.mkdir()
        (study / "config.yaml").write_text(yaml.safe_dump(SPLIT))
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(study),
               "--configfile", str(study / "config.yaml"), "--cores", "1", target]
        env = os.environ | {"QISKIT_IBM_TOKEN": TOKEN}
        runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
                for _ in range(2)]
        outs = [r.communicate(timeout=600)[0] for r in runs]
        assert any(r.returncode == 0 for r in runs), outs
        submitted = [r for r in _ledger(study) if r["event"] == "submitted"]
        manifests = _manifest_jobs(study)
        assert len(manifests) == 2 and all(len(ids) == 4 for ids in manifests.values()), (manifests, outs)
        assert sorted(r["job_id"] for r in submitted) == sorted(i for ids in manifests.values() for i in ids)
        for m in (study / "results/hardware").rglob("manifest.json"):
            circuits = [c for j in json.loads(m.read_text())["jobs"] for c in j["circuits"]]
            assert sorted(circuits) == list(range(30)), m
        if any(r.returncode != 0 for r in runs):  # the loser may fail on a file the winner holds: a rerun finishes
            assert run(study, SPLIT, target).returncode == 0
        assert (study / target).exists()

    before, events = _manifest_jobs(study), len(_ledger(study))
    for forced in (["--forcerun", "hardware_submit"], ["--forceall"]):
        done = run(study, SPLIT, target, *forced)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "hardware_submit" in done.stdout + done.stderr  # Snakemake did rerun the rule ...
        assert _manifest_jobs(study) == before  # ... and the manifests name the same jobs
        assert [r for r in _ledger(study)[events:] if r["event"] == "submitted"] == []

    # a collection that fails (jobs reported queued) leaves the collected device data in place
    collected = sorted((study / "results/hardware").rglob("*s.parquet"))  # counts and estimates
    assert len(collected) == 4
    kept = {p: p.read_bytes() for p in collected}
    queued = run(study, SPLIT, target, "--forcerun", "hardware_collect", env={FAKE_STATUS_ENV: "QUEUED"})
    assert queued.returncode != 0
    assert {p: p.read_bytes() for p in collected} == kept

    # a damaged manifest is set aside before any job and rebuilt from the ledger: nothing submitted
    damaged = sorted((study / "results/hardware").rglob("manifest.json"))[0]
    damaged.chmod(0o644)
    damaged.write_text('{"jobs": [')
    done = run(study, SPLIT, target, "--forcerun", "hardware_collect")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{damaged.relative_to(study)} is damaged" in done.stderr
    assert damaged.with_name("manifest.json.corrupt").is_file()
    assert _manifest_jobs(study) == before
    assert [r for r in _ledger(study)[events:] if r["event"] == "submitted"] == []
    for p in collected:  # collected again from the same jobs: the same counts and estimates
        assert pd.read_parquet(p).equals(pd.read_parquet(io.BytesIO(kept[p]))), p
    assert scan_for_secret(tmp_path, TOKEN) == []
