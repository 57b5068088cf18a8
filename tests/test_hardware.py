"""IBM hardware jobs through qiskit-ibm-runtime, offline on a fake backend in local testing mode:
manifests before waiting, no second submission, budget guard, noisy counts, no leaked token."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from qiskit import QuantumCircuit, qpy
from qiskit_ibm_runtime import SamplerV2
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qnnscope import hardware
from qnnscope.backends import ibm
from qnnscope.gradients.point import GradientPoint

BACKEND = "fake_manila"
ANGLES = (0.0, math.pi / 3, math.pi / 2, 2 * math.pi / 3, math.pi)


def ry_circuits():
    """RY(θ) on qubit 0 entangled onto qubit 1: ⟨Z_0⟩ = cos θ without noise."""
    circuits = []
    for theta in ANGLES:
        qc = QuantumCircuit(2)
        qc.ry(theta, 0)
        qc.cx(0, 1)
        qc.measure_all()
        circuits.append(qc)
    return circuits


@pytest.fixture
def submissions(monkeypatch):
    """Counts every SamplerV2 job submitted."""
    calls = []
    run = SamplerV2.run

    def counting(self, pubs, *args, **kwargs):
        calls.append(len(pubs))
        return run(self, pubs, *args, **kwargs)

    monkeypatch.setattr(SamplerV2, "run", counting)
    return calls


def submit(tmp_path, **options):
    options = {"pubs_per_job": 2, "seed_simulator": 11, "max_jobs": 10, "ledger": tmp_path / "ledger.jsonl"} | options
    return ibm.submit(tmp_path / "manifest.json", ry_circuits(), BACKEND, 2000,
                      tags=[{"theta": t} for t in ANGLES], **options)


def test_fake_backend_names_resolve_to_local_testing_mode():
    assert ibm.fake_backend_class("fake_manila") is FakeManilaV2
    assert ibm.fake_backend_class("FakeManilaV2") is FakeManilaV2
    assert ibm.is_local("fake_sherbrooke") and not ibm.is_local("ibm_torino")


def test_real_backend_comes_from_the_service_without_explicit_credentials(monkeypatch):
    seen = []

    class Service:
        def __init__(self, *args, **kwargs):
            seen.append((args, kwargs))

        def backend(self, name):
            return name

    import qiskit_ibm_runtime

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Service)
    assert ibm.resolve_backend("ibm_torino") == "ibm_torino"
    assert seen == [((), {})]  # the environment or the saved account, never a token passed by us


def test_manifest_is_written_before_results_are_awaited(tmp_path, monkeypatch):
    def crash(store, jobs):
        raise RuntimeError("killed while waiting")

    monkeypatch.setattr(ibm, "_store_local", crash)
    with pytest.raises(RuntimeError, match="killed while waiting"):
        submit(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] and len(manifest["jobs"]) == 3  # 5 circuits, 2 per job
    assert oct((tmp_path / "manifest.json").stat().st_mode & 0o777) == oct(0o444)
    assert manifest["backend"] == "fake_manila" and manifest["shots"] == 2000
    assert manifest["submitted_at"].endswith("Z") and manifest["qnnscope_version"]
    assert len({c["hash"] for c in manifest["circuits"]}) == 5
    # local jobs cannot be fetched by id from another process: collect reports them lost
    with pytest.raises(ibm.JobsFailed, match="(?s)3 jobs failed.*LOST.*resubmit_failed"):
        ibm.collect(tmp_path / "manifest.json")


def test_a_second_submit_returns_the_manifest_and_submits_nothing(tmp_path, submissions):
    first = submit(tmp_path)
    assert len(submissions) == 3
    again = submit(tmp_path)
    assert len(submissions) == 3 and again == first
    ledger = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["job_id"] for line in ledger] == [j["job_id"] for j in first["jobs"]]


def test_budget_guard_refuses_before_anything_is_submitted(tmp_path, submissions):
    with pytest.raises(ibm.BudgetExceeded, match=r"hardware\.max_jobs: .* records 0 jobs and this needs 3 more, "
                                                 r"over the limit 2"):
        submit(tmp_path, max_jobs=2)
    with pytest.raises(ibm.BudgetExceeded, match=r"hardware\.max_shots: .* records 0 shots and this needs 10000 "
                                                 r"more, over the limit 9999"):
        submit(tmp_path, max_shots=9999)
    assert submissions == [] and not (tmp_path / "manifest.json").exists()


def test_counts_match_the_noisy_simulation_of_the_same_device_within_shot_noise(tmp_path):
    """⟨Z_0⟩ from the fake device's counts (through the runtime's local mode) against 2^17 shots
    of the same device's Aer simulation (its own calibration-data noise model; qiskit-aer's
    ``NoiseModel.from_backend`` builds a different readout model) on the same ISA circuits; the
    noise is visible against cos θ."""
    submit(tmp_path)
    counts = ibm.collect(tmp_path / "manifest.json", tmp_path / "counts.parquet")
    assert set(counts.columns) >= set(ibm.COUNT_COLUMNS)
    assert (counts.groupby("circuit")["count"].sum() == 2000).all()
    z0 = counts.assign(z=lambda d: np.where(d["bits"].str[0] == "0", 1.0, -1.0) * d["count"])
    z0 = z0.groupby("circuit")["z"].sum().to_numpy() / 2000

    with open(tmp_path / "manifest.circuits.qpy", "rb") as fh:
        isa = qpy.load(fh)
    ref_shots = 2**17
    result = FakeManilaV2().run(isa, shots=ref_shots, seed_simulator=5).result()
    noisy = np.array([sum(n * (1 if b[-1] == "0" else -1) for b, n in result.get_counts(i).items())
                      for i in range(len(isa))]) / ref_shots
    sigma = np.sqrt((1 - noisy**2) * (1 / 2000 + 1 / ref_shots))
    assert np.all(np.abs(z0 - noisy) < 5 * np.maximum(sigma, 1e-3)), (z0, noisy)
    assert np.max(np.abs(noisy - np.cos(ANGLES))) > 0.01  # the device's noise is there to see


def test_gradient_point_estimates_follow_the_device_noise_model(tmp_path):
    """McClean circuits of a sweep point: the fake device's shot estimates scatter around the
    exact values, shrunk by its noise (|slope| < 1) but clearly correlated; around what the
    device's noise model predicts for the same ISA circuits they scatter with exactly the
    predicted shot noise (z-scores of mean 0, variance 1), and closer than around the exact ones."""
    point = GradientPoint("mcclean", 2, 2, "zz", dtype="complex128")
    samples = 60
    circuits, tags = hardware.point_circuits(point, samples, base_seed=3)
    assert len(circuits) == 3 * samples  # unshifted, +π/2, −π/2 of every draw (one Z setting)
    ibm.submit(tmp_path / "manifest.json", circuits, BACKEND, 4000, tags=tags, pubs_per_job=200, seed_simulator=2)
    table = hardware.estimates(ibm.collect(tmp_path / "manifest.json"), point, samples, base_seed=3,
                          isa=ibm.load_isa(tmp_path / "manifest.json"))
    assert len(table) == samples and (table["backend"] == "fake_manila").all()
    slope = np.polyfit(table["grad_exact"], table["grad"], 1)[0]
    assert 0.5 < slope < 1.05 and np.corrcoef(table["grad_exact"], table["grad"])[0, 1] > 0.9
    z = (table["grad"] - table["grad_noisy"]) / np.sqrt(table["grad_shot_var"])
    assert abs(z.mean()) < 4 / np.sqrt(samples) and 0.6 < z.var() < 1.5, (z.mean(), z.var())
    assert np.mean((table["grad"] - table["grad_noisy"]) ** 2) < 0.2 * np.mean((table["grad"] - table["grad_exact"]) ** 2)
    summary = hardware.summarize(table, n_boot=200)
    assert summary["grad_var_expected"].iloc[0] == pytest.approx(
        np.var(table["grad_noisy"], ddof=1) + table["grad_shot_var"].mean(), rel=1e-12)


def test_queued_jobs_stop_collection_with_a_clear_status(tmp_path, monkeypatch):
    submit(tmp_path)
    monkeypatch.setenv(ibm.FAKE_STATUS_ENV, "QUEUED")
    with pytest.raises(ibm.JobsPending, match="3 jobs still queued or running .*rerun later"):
        ibm.collect(tmp_path / "manifest.json", tmp_path / "counts.parquet")
    assert not (tmp_path / "counts.parquet").exists()
    monkeypatch.delenv(ibm.FAKE_STATUS_ENV)
    assert len(ibm.collect(tmp_path / "manifest.json", tmp_path / "counts.parquet")) > 0


def test_failed_jobs_are_reported_and_resubmitted_only_on_request(tmp_path, monkeypatch, submissions):
    real = ibm._counts_of
    calls = {"n": 0}

    def flaky(pub_result):  # the second job of the first submission fails on the device
        calls["n"] += 1
        if calls["n"] == 3:  # jobs of 2, 2, 1 PUBs: the first PUB of job 2
            raise RuntimeError("device calibration error 1517")
        return real(pub_result)

    monkeypatch.setattr(ibm, "_counts_of", flaky)
    first = submit(tmp_path)
    failed = first["jobs"][1]["job_id"]
    with pytest.raises(ibm.JobsFailed, match=rf"1 jobs failed(.|\n)*{failed}: ERROR: RuntimeError: device calibration error 1517"):
        ibm.collect(tmp_path / "manifest.json")
    assert len(submissions) == 3 and not (tmp_path / "manifest.gen1.json").exists()

    with pytest.raises(ibm.BudgetExceeded, match="max_jobs"):
        ibm.collect(tmp_path / "manifest.json", resubmit_failed=True, max_jobs=3)
    counts = ibm.collect(tmp_path / "manifest.json", tmp_path / "counts.parquet", resubmit_failed=True,
                         ledger=tmp_path / "ledger.jsonl")
    assert len(submissions) == 4  # only the failed job's two circuits went again
    assert json.loads((tmp_path / "manifest.json").read_text()) == first  # the old generation is kept
    regen = json.loads((tmp_path / "manifest.gen1.json").read_text())
    assert regen["resubmits"] == [2, 3] and len(regen["jobs"]) == 1
    assert sorted(counts.loc[counts["generation"] == 1, "circuit"].unique()) == [2, 3]
    events = [json.loads(line)["event"] for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert events == ["submitted"] * 3 + ["resubmitted"]


def test_no_token_in_any_file_or_log(tmp_path, monkeypatch, caplog, capfd):
    token = "dummy-token-8c1f2e7a9b3d4c5e6f708192a3b4c5d6e7f80912"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    monkeypatch.setenv("QISKIT_IBM_CHANNEL", "ibm_quantum_platform")
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:dummy-instance")
    caplog.set_level(logging.DEBUG)
    submit(tmp_path)
    ibm.collect(tmp_path / "manifest.json", tmp_path / "counts.parquet")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 5 and ibm.scan_for_secret(tmp_path, token) == []
    out, err = capfd.readouterr()
    assert token not in caplog.text + out + err
    (tmp_path / "leak.txt").write_text(f"token={token}")  # the scan does find one
    assert ibm.scan_for_secret(tmp_path, token) == [tmp_path / "leak.txt"]
    assert os.environ["QISKIT_IBM_TOKEN"] == token


def test_real_jobs_are_retrieved_by_id_from_the_service(tmp_path, monkeypatch):
    """A manifest of a real backend: collect asks the service for each job id; queued jobs stop
    it, done jobs give their counts (qiskit's bit order reversed into wire order)."""
    manifest = {"generation": 0, "backend": "ibm_test", "local": False, "shots": 10, "pubs_per_job": 2,
                "point": None, "complete": True, "seed_simulator": None,
                "circuits": [{"index": i, "hash": f"h{i}", "shots": 10, "tags": {}} for i in range(3)],
                "jobs": [{"job_id": "job-a", "circuits": [0, 1], "shots": 20}, {"job_id": "job-b", "circuits": [2], "shots": 10}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    state = {"job-a": "DONE", "job-b": "QUEUED"}

    class Pub:
        def __init__(self, counts):
            self.counts = counts

        def join_data(self):
            return self

        def get_counts(self):
            return self.counts

    class Job:
        def __init__(self, job_id):
            self.job_id = job_id

        def status(self):
            return state[self.job_id]

        def result(self):
            return [Pub({"01": 10}), Pub({"00": 4, "11": 6})] if self.job_id == "job-a" else [Pub({"10": 10})]

        def error_message(self):
            return "Job failed: qubit 3 out of calibration"

    class Service:
        def job(self, job_id):
            return Job(job_id)

    monkeypatch.setattr(ibm, "_service", lambda generations: Service())
    with pytest.raises(ibm.JobsPending, match=r"1 jobs still queued or running \(job-b\): rerun later"):
        ibm.collect(tmp_path / "manifest.json")
    state["job-b"] = "ERROR"
    with pytest.raises(ibm.JobsFailed, match="job job-b: ERROR: Job failed: qubit 3 out of calibration"):
        ibm.collect(tmp_path / "manifest.json")
    state["job-b"] = "DONE"
    counts = ibm.collect(tmp_path / "manifest.json")
    assert counts[["circuit", "bits", "count", "job_id"]].values.tolist() == [
        [0, "10", 10, "job-a"], [1, "00", 4, "job-a"], [1, "11", 6, "job-a"], [2, "01", 10, "job-b"]]


def test_an_interrupted_submission_resumes_with_the_circuits_that_have_no_job(tmp_path, monkeypatch, submissions):
    real = ibm._run_jobs

    def interrupted(backend, pubs, pubs_per_job, seed, on_job):
        def first_then_die(job, indices, batch_id):
            on_job(job, indices, batch_id)
            raise KeyboardInterrupt

        real(backend, pubs, pubs_per_job, seed, first_then_die)

    monkeypatch.setattr(ibm, "_run_jobs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        submit(tmp_path)
    partial = json.loads((tmp_path / "manifest.json").read_text())
    assert not partial["complete"] and [j["circuits"] for j in partial["jobs"]] == [[0, 1]]

    monkeypatch.setattr(ibm, "_run_jobs", real)
    done = submit(tmp_path)
    assert len(submissions) == 3 and done["complete"]
    assert [j["circuits"] for j in done["jobs"]] == [[0, 1], [2, 3], [4]]
    # the first job ran in the interrupted process: its local results are gone, and said so
    with pytest.raises(ibm.JobsFailed, match=f"job {partial['jobs'][0]['job_id']}: LOST"):
        ibm.collect(tmp_path / "manifest.json")


# --- exactly once: the ledger ---------------------------------------------------------------

SUBMITTER = """
import json, math, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_hardware as th
from qnnscope.backends import ibm
tmp = Path(sys.argv[1])
record = ibm.submit(tmp / "manifest.json", th.ry_circuits(), th.BACKEND, 2000, pubs_per_job=1, seed_simulator=11,
                    max_jobs=50, ledger=tmp / "ledger.jsonl")
print(json.dumps([j["job_id"] for j in record["jobs"]]))
"""


def _ledger(tmp_path) -> list[dict]:
    path = tmp_path / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _submitter(tmp_path):
    code = SUBMITTER.format(tests=str(Path(__file__).parent))
    return subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _assert_each_circuit_submitted_once(tmp_path, n_circuits=len(ANGLES)):
    ledger = _ledger(tmp_path)
    circuits = sorted(c for r in ledger for c in r["circuits"])
    assert circuits == list(range(n_circuits)), ledger
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] and sorted(j["job_id"] for j in manifest["jobs"]) == sorted(r["job_id"] for r in ledger)


@pytest.mark.parametrize("trial", range(3))
def test_concurrent_submitters_submit_every_circuit_once(tmp_path, trial):
    """Two processes submit the same point at once (two `snakemake` runs): the lock serialises
    them, the second finds the first's jobs and submits nothing."""
    procs = [_submitter(tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ids = [json.loads(out) for out, _ in outputs]
    assert ids[0] == ids[1] and len(ids[0]) == len(ANGLES)
    _assert_each_circuit_submitted_once(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("after_jobs", [0, 1, 3])
def test_a_killed_submitter_then_a_rerun_submits_nothing_twice(tmp_path, sig, after_jobs):
    """Kill the submitting process once the ledger holds ``after_jobs`` jobs (or before any),
    delete the manifest as Snakemake's cleanup of the killed job would, and rerun."""
    proc = _submitter(tmp_path)
    deadline = time.monotonic() + 300
    while len(_ledger(tmp_path)) < after_jobs and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    before = _ledger(tmp_path)
    assert len(before) >= after_jobs
    (tmp_path / "manifest.json").unlink(missing_ok=True)
    rerun = _submitter(tmp_path)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    _assert_each_circuit_submitted_once(tmp_path)
    assert _ledger(tmp_path)[: len(before)] == before  # what was recorded stays, nothing is submitted again


def test_a_deleted_manifest_is_rebuilt_from_the_ledger_without_resubmitting(tmp_path, submissions):
    first = submit(tmp_path)
    (tmp_path / "manifest.json").unlink()  # `--forceall` or Snakemake's cleanup of a failed job
    again = submit(tmp_path)
    assert len(submissions) == 3
    assert [j["job_id"] for j in again["jobs"]] == [j["job_id"] for j in first["jobs"]]
    counts = ibm.collect(tmp_path / "manifest.json")  # the local results beside it were kept
    assert (counts.groupby("circuit")["count"].sum() == 2000).all()


def test_a_ledger_job_for_other_circuits_is_refused(tmp_path, submissions):
    submit(tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ValueError, match="ledger records job .* for other circuits"):
        ibm.submit(tmp_path / "manifest.json", ry_circuits()[::-1], BACKEND, 2000, pubs_per_job=2,
                   seed_simulator=11, ledger=tmp_path / "ledger.jsonl")
    assert len(submissions) == 3


def test_the_budget_counts_the_jobs_already_in_the_ledger(tmp_path, submissions):
    submit(tmp_path)  # 3 jobs, 10 000 shots recorded
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ibm.BudgetExceeded, match=r"hardware\.max_jobs: .*ledger\.jsonl already records 3 jobs and "
                                                 r"this needs 3 more, over the limit 5"):
        ibm.submit(other / "manifest.json", ry_circuits(), BACKEND, 2000, pubs_per_job=2, max_jobs=5,
                   ledger=tmp_path / "ledger.jsonl")
    assert len(submissions) == 3 and not (other / "manifest.json").exists()


def test_a_mistyped_fake_backend_is_refused_offline(monkeypatch):
    import qiskit_ibm_runtime

    def no_network(*args, **kwargs):
        raise AssertionError("validation reached for IBM's service")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", no_network)
    for typo in ("fake_manilla", "FakeManila2", "fake-nowhere"):
        with pytest.raises(ValueError, match=rf"^hardware\.backend: '{typo}' is not a fake backend of "
                                             r"qiskit_ibm_runtime\.fake_provider; allowed: one of \d+ fake backends"):
            ibm.resolve_backend(typo)
    ibm.check_backend_name("ibm_torino")  # a real name passes (it cannot be checked offline)
