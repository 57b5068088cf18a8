"""The cluster path: the workflow through snakemake-executor-plugin-slurm and the real SLURM profile
(workflow/profiles/slurm) on a private single-node cluster (tests/slurm/start-cluster.sh).

The cluster needs root (it installs Debian's slurm packages when they are missing, runs slurmd and
links /etc/slurm/slurm.conf); without root these tests skip, unless QNNSCOPE_REQUIRE_SLURM=1
(`.ci/run`) makes that a failure. Other processes may submit to the same cluster: the tests only
look at jobs whose ids their own runs recorded.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests/slurm"
STATE = Path(os.environ.get("QNNSCOPE_SLURM_DIR", "/tmp/qnnscope-slurm"))
REQUIRED = os.environ.get("QNNSCOPE_REQUIRE_SLURM") == "1"
DAEMONS = ("munged", "slurmctld", "slurmd")
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The real cluster profile, plus what a cluster without accounting needs (tests/slurm/profile).
SLURM_PROFILES = ["--profile", str(HARNESS / "profile"), "--workflow-profile", str(ROOT / "workflow/profiles/slurm")]
TABLES = ["results/tables/gradients.parquet", "results/tables/scaling_fits.parquet"]
STUDY = {
    "seed": 5,
    "bootstrap": 200,
    # n ≤ 3: one batch job per sweep and qubit count; n = 4: one gradient_shard job per shard,
    # submitted together as one SLURM job array
    "batch": {"max_qubits": 3, "shards": 8},
    "resources": {"runtime": 10, "mem_mb": 1000},
    "gradients": [
        {"name": "product", "ansatz": "rx_product", "qubits": [2, 3, 4], "depths": [1],
         "costs": ["global", "local"], "samples": 100, "chunk": 100},
        {"name": "layers", "ansatz": "mcclean", "qubits": [2, 3], "depths": [1, 2], "costs": ["zz"],
         "samples": 100, "chunk": 100},
    ],
}
POINTS = 3 * 2 + 2 * 2  # product: three qubit counts, two costs; layers: two qubit counts, two depths
BATCHED_POINTS = 2 * 2 + 2 * 2  # n = 2, 3 of both sweeps


def _unavailable() -> str | None:
    """Why the cluster cannot run here, or None."""
    if os.geteuid() != 0:
        return ("the SLURM test cluster needs root (it installs slurmctld, slurmd, slurm-client and munge, "
                "runs slurmd and links /etc/slurm/slurm.conf)")
    if not shutil.which("slurmd") and not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    return None


def _harness(script: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "QNNSCOPE_SLURM_DIR": str(STATE), **(env or {})}
    return subprocess.run([str(HARNESS / script)], check=False, env=env, capture_output=True, text=True, timeout=timeout)


def _pids() -> dict[str, int]:
    """The daemons' PIDs from the cluster's PID files."""
    files = {d: STATE / "run" / f"{d}.pid" for d in DAEMONS}
    return {d: int(f.read_text()) for d, f in files.items() if f.exists()}


def _alive(pid: int) -> bool:
    """A running process (not a zombie: this machine's init does not reap the daemons)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def cluster() -> dict:
    """The environment to reach the test cluster (SLURM_CONF), started if it is not running.
    Concurrent test sessions share it (a shared lock each); the last one out stops it if a test
    session started it."""
    reason = _unavailable()
    if reason:
        (pytest.fail if REQUIRED else pytest.skip)(reason)
    STATE.mkdir(parents=True, exist_ok=True)
    marker = STATE / "started-by-tests"
    with open(STATE / "users.lock", "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)
        done = _harness("start-cluster.sh")
        assert done.returncode == 0, done.stdout + done.stderr
        info = dict(re.findall(r"^([A-Z_]+)=(.*)$", done.stdout, re.MULTILINE))
        if info["STARTED"]:
            marker.touch()
        try:
            yield {**os.environ, "SLURM_CONF": info["SLURM_CONF"]}
        finally:
            fcntl.flock(users, fcntl.LOCK_UN)
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another session still uses it
            if marker.exists():
                pids = _pids()
                stopped = _harness("stop-cluster.sh")
                assert stopped.returncode == 0, stopped.stdout + stopped.stderr
                assert len(pids) == 3 and not [d for d, pid in pids.items() if _alive(pid)], stopped.stdout
                assert not Path("/etc/slurm/slurm.conf").is_symlink()
                marker.unlink()


@dataclass
class Run:
    """A snakemake run, its output lines with the time each was read."""
    returncode: int
    lines: list[tuple[float, str]] = field(default_factory=list)
    ended: float = 0.0

    @property
    def text(self) -> str:
        return "".join(line for _, line in self.lines)


def snakemake(study: Path, *args: str, env: dict, timeout: float = 300) -> Run:
    """Run snakemake in ``study``; past ``timeout`` stop it with SIGINT (SIGTERM does not stop it
    while cluster jobs run) and cancel the SLURM jobs of its run."""
    proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(study), *args], env=env, text=True, bufsize=1,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    run = Run(returncode=-1)
    reader = threading.Thread(target=lambda: run.lines.extend((time.time(), line) for line in proc.stdout))
    reader.start()
    try:
        run.returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join()
        uuid = re.search(r"SLURM run ID: (\S+)", run.text)
        if uuid:
            subprocess.run(["scancel", "--name", uuid[1]], check=False, env=env, capture_output=True)
        pytest.fail(f"snakemake did not finish within {timeout} s:\n{run.text[-5000:]}")
    run.ended = time.time()
    reader.join()
    return run


def write_study(path: Path, config: dict) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    return path


def canonical(table: pd.DataFrame) -> pd.DataFrame:
    """The table without its run-dependent columns, in a fixed row order."""
    table = table.drop(columns=[c for c in ("wall_time_s", "host") if c in table.columns])
    return table.sort_values(list(table.columns)).reset_index(drop=True)


def slurm_ids(log: Path) -> dict[str, int]:
    """The SLURM job ids a job log recorded (qnnscope.logs.job_log)."""
    return {key: int(value) for key, value in re.findall(r"(SLURM_\w+_ID)=(\d+)", log.read_text())}


def squeue(env: dict, *args: str) -> list[list[str]]:
    done = subprocess.run(["squeue", "--noheader", "--states=all", *args], check=False, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [line.split("|") for line in done.stdout.split()]


def test_job_logs_name_their_slurm_job(tmp_path):
    code = "from qnnscope.logs import job_log\njob_log('job.log').info('done')\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    plain = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True)
    assert plain.returncode == 0 and "not a SLURM job" in (tmp_path / "job.log").read_text()
    env |= {"SLURM_JOB_ID": "1045", "SLURM_ARRAY_JOB_ID": "1040", "SLURM_ARRAY_TASK_ID": "3"}
    array = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True)
    assert array.returncode == 0
    text = (tmp_path / "job.log").read_text()
    assert f"host {socket.gethostname()}, SLURM_JOB_ID=1045 SLURM_ARRAY_JOB_ID=1040 SLURM_ARRAY_TASK_ID=3" in text


@pytest.mark.slurm
def test_starting_a_running_cluster_changes_nothing(cluster):
    before = _pids()
    again = _harness("start-cluster.sh")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "STARTED=\n" in again.stdout and "already running" in again.stdout
    assert _pids() == before and all(_alive(pid) for pid in before.values())


@pytest.mark.slurm
def test_start_refuses_ports_held_by_another_program(cluster, tmp_path):
    other = tmp_path / "other-cluster"
    with socket.socket() as held:
        held.bind(("", 0))
        held.listen()
        port = held.getsockname()[1]
        done = _harness("start-cluster.sh", env={"QNNSCOPE_SLURM_DIR": str(other), "QNNSCOPE_SLURMCTLD_PORT": str(port),
                                                 "QNNSCOPE_SLURMD_PORT": str(port + 1 if port < 65535 else port - 1)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"slurmctld port {port} is in use by another program" in done.stderr
    assert "QNNSCOPE_SLURMCTLD_PORT" in done.stderr  # says how to choose other ports
    assert not list((other / "run").glob("*.pid")) and not (other / "etc/slurm.conf").exists()
    assert os.readlink("/etc/slurm/slurm.conf") == str(STATE / "etc/slurm.conf")  # the running cluster's


@pytest.mark.slurm
def test_a_study_on_slurm_goes_through_sbatch_in_batches_and_equals_a_local_run(cluster, tmp_path):
    local = write_study(tmp_path / "local", STUDY)
    here = snakemake(local, "-s", str(ROOT / "Snakefile"), "--configfile", str(local / "config.yaml"),
                     "--cores", "2", *TABLES, env=cluster)
    assert here.returncode == 0, here.text

    study = write_study(tmp_path / "slurm", STUDY)
    run = snakemake(study, "-s", str(ROOT / "Snakefile"), "--configfile", str(study / "config.yaml"),
                    *SLURM_PROFILES, *TABLES, env=cluster)
    assert run.returncode == 0, run.text

    for table in TABLES:
        pd.testing.assert_frame_equal(canonical(pd.read_parquet(study / table)),
                                      canonical(pd.read_parquet(local / table)), check_exact=True)

    # what snakemake submitted: one sbatch per batch job, one sbatch for the array of n = 4 shards
    single = {int(i) for i in re.findall(r"has been submitted with SLURM jobid (\d+)", run.text)}
    arrays = {int(i) for i in re.findall(r"Submitted array job with .* SLURM job ID (\d+)", run.text)}
    submitted = single | arrays
    assert len(single) == 4 and len(arrays) == 1, run.text

    # what the jobs' logs say they ran as: every gradient job inside a SLURM job of this run
    batches = {log.name: slurm_ids(log) for log in (study / "results/logs/batches").glob("*.log")}
    shards = {log: slurm_ids(log) for log in (study / "results/logs/gradients").rglob("*.log")}
    assert len(batches) == 4 and len(shards) == 2  # n = 2, 3 of both sweeps; product's two n = 4 points
    assert {ids["SLURM_JOB_ID"] for ids in batches.values()} == single
    assert {ids.get("SLURM_ARRAY_JOB_ID") for ids in shards.values()} == arrays
    assert sorted(ids["SLURM_ARRAY_TASK_ID"] for ids in shards.values()) == [1, 2]

    # what the cluster says: those jobs, all COMPLETED, all named after this snakemake run
    uuid = re.search(r"SLURM run ID: (\S+)", run.text)[1]
    rows = squeue(cluster, "--name", uuid, "--format", "%F|%T")
    assert {int(job) for job, _ in rows} == submitted and len(rows) == 4 + 2
    assert {state for _, state in rows} == {"COMPLETED"}

    # batching: the 8 points with n ≤ 3 went out as 4 sbatch jobs; all 10 points as 5
    assert len(single) < BATCHED_POINTS and len(submitted) < POINTS


FAILING = """\
rule fail:
    output:
        "never.txt",
    shell:
        "date +%s.%N >> failed_at.txt; echo 'failing on purpose' >&2; exit 3"
"""


@pytest.mark.slurm
def test_a_failing_rule_on_slurm_is_reported_within_a_minute(cluster, tmp_path):
    # One attempt (--retries 0): under the profile's `retries: 2` each of the three attempts is
    # reported within half a minute too, but the plugin lengthens its status interval by 10 s after
    # every round in which no job completed, and snakemake's exit waits out the current interval,
    # so a third failure is followed by about 70 s of waiting before the exit.
    (tmp_path / "Snakefile").write_text(FAILING)
    run = snakemake(tmp_path, "-s", str(tmp_path / "Snakefile"), *SLURM_PROFILES, "--retries", "0",
                    env=cluster, timeout=300)
    failed_at = float((tmp_path / "failed_at.txt").read_text())
    reported_at = [t for t, line in run.lines if line.startswith("Error in rule fail:")]
    assert run.returncode != 0 and len(reported_at) == 1, run.text
    assert reported_at[0] - failed_at < 60, run.text
    assert run.ended - failed_at < 60, run.text
    job = re.search(r"Job 0 has been submitted with SLURM jobid (\d+)", run.text)[1]
    assert f"SLURM-job '{job}' failed, SLURM status is: 'FAILED'" in run.text
    assert "Exiting because a job execution failed" in run.text
    assert squeue(cluster, "--jobs", job, "--format", "%i|%T") == [[job, "FAILED"]]
