"""The Snakemake workflow, driven as a user drives it: `snakemake` in a study directory."""

from __future__ import annotations

import json
import os
import re
import shutil
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
    "ci": 0.999,  # six rows must all cover their exact values: 0.1 % per row, under 1 % for the six (Bonferroni)
    "batch": {"max_qubits": 3, "shards": 3},  # n = 2, 3 in batch jobs of ≤ 3 shards; n = 4 one job per shard
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


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    """Rule → job count from the stats table of `snakemake -n` (with or without `--quiet rules`)."""
    rows = (line.split() for line in dry_run_stdout.splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}


def scheduled_batches(dry_run_stdout: str) -> list[str]:
    """`{sweep}/{batch}` of every gradient_batch job a `snakemake -n` (not quiet) would run."""
    batches, rule = [], None
    for line in dry_run_stdout.splitlines():
        if line.rstrip().endswith(":") and "rule " in line:
            rule = line.split()[-1].rstrip(":")
        elif rule == "gradient_batch" and line.strip().startswith("wildcards:"):
            wildcards = dict(item.split("=", 1) for item in line.split(":", 1)[1].strip().split(", "))
            batches.append(f"{wildcards['sweep']}/{wildcards['batch']}")
    return sorted(batches)


def batch_logs(study: Path, prefix: str) -> list[Path]:
    """Logs of the batch jobs whose id starts with ``prefix`` (``tiny__n2__part1``: any hash)."""
    return sorted((study / "results/logs/batches").glob(f"{prefix}__*.log"))


def fingerprint(paths) -> dict[Path, tuple[int, bytes]]:
    """Inode and bytes of each file: a shard written again gets a new inode (atomic rename), while
    Snakemake's touching of a batch's kept outputs changes only their mtime."""
    return {p: (p.stat().st_ino, p.read_bytes()) for p in paths}


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> Path:
    """TINY run once; tests that change it work on copies (with Snakemake's metadata)."""
    study = tmp_path_factory.mktemp("tiny")
    done = run(study, TINY)
    assert done.returncode == 0, done.stdout + done.stderr
    return study


def copy_of(study: Path, tmp_path: Path) -> Path:
    target = tmp_path / "study"
    shutil.copytree(study, target, symlinks=True)  # copy2: mtimes kept, so nothing looks stale
    return target


def test_tiny_study_runs_end_to_end_and_matches_the_exact_variances(tiny_study, tmp_path):
    tmp_path = copy_of(tiny_study, tmp_path)
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
    assert len(shards(tmp_path)) == 3 * 2 * 2
    # every job wrote its log: batches of n = 2, 3 (4 shards each in parts of 3 and 1), the four
    # one-shard jobs of n = 4, two tables, their HTML renderings and the figures (one job for
    # variance against qubits and depth, one for global vs local)
    logs = {p.relative_to(tmp_path / "results/logs").as_posix() for p in (tmp_path / "results/logs").rglob("*.log")}
    for part in ("n2__part0", "n2__part1", "n3__part0", "n3__part1"):
        assert len(batch_logs(tmp_path, f"tiny__{part}")) == 1, part
    assert len([log for log in logs if log.startswith("batches/")]) == 4
    assert {"aggregate/gradients.log", "aggregate/scaling_fits.log", "tables/gradients_html.log",
            "tables/scaling_fits_html.log", "figures/gradients/tiny/variance.log",
            "figures/gradients/tiny/global_vs_local.log"} <= logs
    assert sum(log.startswith("gradients/tiny/ansatz~rx_product/n~4/") for log in logs) == 4
    # each batch's manifest lists its shards: together, the eight shards of n = 2, 3
    manifests = sorted((tmp_path / "results/shards/gradients/tiny/batches").glob("*.json"))
    listed = [path for m in manifests for path in json.loads(m.read_text())["shards"]]
    assert len(manifests) == 4 and len(listed) == len(set(listed)) == 2 * 2 * 2  # n x cost x chunk
    assert all((tmp_path / path).is_file() and "/n~4/" not in path for path in listed)
    figures = tmp_path / "results/figures/gradients/tiny"
    for name in ("variance_vs_qubits", "variance_vs_depth", "global_vs_local"):
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (figures / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    html = (tmp_path / "results/tables/scaling_fits.html").read_text()
    assert all(f"<td>{cost}</td>" in html for cost in ("global", "local"))
    # theory beside measurement: Cerezo's closed forms for rx_product, its abelian DLA u(1)^n
    predictions = pd.read_parquet(tmp_path / "results/tables/predictions.parquet")
    assert len(predictions) == 3 * 2 and (predictions["prediction"] == "exact").all()
    m = predictions["n_qubits"]
    closed = (predictions["cost_function"] == "global") * (0.125 * 0.375 ** (m - 1)) + (
        predictions["cost_function"] == "local") / (8 * m**2)
    assert ((predictions["var_predicted"] - closed).abs() < 1e-12).all()
    assert list(predictions["dla_type"]) == [f"u(1)^⊕{n}" for n in predictions["n_qubits"]]
    assert (predictions["dla_dim"] == predictions["n_qubits"]).all()
    assert "aggregate/predictions.log" in {p.relative_to(tmp_path / "results/logs").as_posix()
                                          for p in (tmp_path / "results/logs").rglob("*.log")}

    report = run(tmp_path, TINY, "--report", "results/report.html")
    assert report.returncode == 0, report.stdout + report.stderr
    page = (tmp_path / "results/report.html").read_text()
    for item in ("variance_vs_qubits.png", "variance_vs_depth.png", "global_vs_local.png",
                 "gradients.html", "scaling_fits.html", "Cerezo et al."):
        assert item in page, item


def test_adding_qubit_counts_schedules_only_the_new_points(tiny_study, tmp_path):
    tmp_path = copy_of(tiny_study, tmp_path)
    bigger = yaml.safe_load(yaml.safe_dump(TINY))
    bigger["gradients"][0]["qubits"] += [1, 5]  # n = 1 is batched, n = 5 is not
    dry = run(tmp_path, bigger, "-n")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    counts = job_counts(dry.stdout)
    assert counts.pop("gradient_shard") == 2 * 2  # two costs x two chunks of n = 5
    # n = 1's two batches and nothing of n = 2, 3, which are done
    assert counts.pop("gradient_batch") == 2
    assert [batch.split("__")[:2] for batch in scheduled_batches(dry.stdout)] == [
        ["tiny/n1", "part0"], ["tiny/n1", "part1"]]
    assert counts.pop("gradient_table") == 1 and counts.pop("scaling_fits") == 1


def test_raising_samples_adds_chunks_and_keeps_finished_shards(tiny_study, tmp_path):
    tmp_path = copy_of(tiny_study, tmp_path)
    before = fingerprint(shards(tmp_path))
    more = yaml.safe_load(yaml.safe_dump(TINY))
    more["gradients"][0]["samples"] = 6000  # a third chunk per point
    dry = run(tmp_path, more, "-n")
    counts = job_counts(dry.stdout)
    # chunk-major batches [c0 global, c0 local, c1 global], [c1 local, c2 global, c2 local]: only
    # part 1 grows, which gives it a new id (a new job); part 0 keeps its id and is done
    assert counts.pop("gradient_shard") == 2  # chunk 2 of n = 4
    assert counts.pop("gradient_batch") == 2
    grown = scheduled_batches(dry.stdout)
    assert [batch.split("__")[:2] for batch in grown] == [["tiny/n2", "part1"], ["tiny/n3", "part1"]]
    assert not set(grown) & {f"tiny/{log.stem.removeprefix('tiny__')}" for log in batch_logs(tmp_path, "tiny")}
    done = run(tmp_path, more)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(shards(tmp_path)) == 3 * 2 * 3
    assert fingerprint(before) == before  # finished shards were kept, not recomputed
    assert (pd.read_parquet(tmp_path / "results/tables/gradients.parquet")["n_samples"] == 6000).all()
    new_log = [log for log in batch_logs(tmp_path, "tiny__n2__part1") if f"tiny/{log.stem.removeprefix('tiny__')}" in grown]
    assert len(new_log) == 1 and "kept" in new_log[0].read_text()


def test_a_deleted_shard_of_a_finished_batch_reruns_that_batch_and_the_table(tiny_study, tmp_path):
    tmp_path = copy_of(tiny_study, tmp_path)
    manifest = sorted((tmp_path / "results/shards/gradients/tiny/batches").glob("n3__part0__*.json"))[0]
    lost = tmp_path / json.loads(manifest.read_text())["shards"][1]
    table = tmp_path / "results/tables/gradients.parquet"
    before = fingerprint([p for p in shards(tmp_path) if p != lost] + [table])
    lost.unlink()
    dry = run(tmp_path, TINY, "-n")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    # the batch's manifest no longer stands for its shards: removed, with a message naming the shard,
    # and so is the table that summarised it (Snakemake reruns nothing for a missing intermediate file)
    assert f"its shard {lost.relative_to(tmp_path)} is missing" in dry.stderr and not manifest.exists()
    assert not table.exists()
    counts = job_counts(dry.stdout)
    assert scheduled_batches(dry.stdout) == [f"tiny/{manifest.stem}"] and counts.pop("gradient_batch") == 1
    assert counts.pop("gradient_table") == 1 and "gradient_shard" not in counts
    done = run(tmp_path, TINY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lost.is_file() and manifest.is_file()
    after = fingerprint(before)
    assert after[table] != before.pop(table)  # the table was written again, from every shard
    assert {p: after[p] for p in before} == before  # no other shard was recomputed
    log = (tmp_path / f"results/logs/batches/tiny__{manifest.stem}.log").read_text()
    assert log.count("kept") == 2 and f"wrote {lost.relative_to(tmp_path)}" in log
    columns = ["n_qubits", "cost_function", "n_samples", "grad_var"]  # the same values, recomputed
    assert pd.read_parquet(table)[columns].equals(pd.read_parquet(tiny_study / "results/tables/gradients.parquet")[columns])


def test_damaged_shards_are_set_aside_and_recomputed_by_a_plain_rerun(tiny_study, tmp_path):
    """A truncated shard of a batch and an overwritten one-shard job's shard: the plan moves both to
    ``.corrupt`` naming them, reruns exactly their jobs, and the table comes back with the same values."""
    tmp_path = copy_of(tiny_study, tmp_path)
    manifest = sorted((tmp_path / "results/shards/gradients/tiny/batches").glob("n2__part0__*.json"))[0]
    batched = tmp_path / json.loads(manifest.read_text())["shards"][0]
    single = next(p for p in shards(tmp_path) if "/n~4/" in str(p))
    table = tmp_path / "results/tables/gradients.parquet"
    batched.write_bytes(batched.read_bytes()[:-100])  # truncated
    single.write_bytes(b"not parquet at all")
    dry = run(tmp_path, TINY, "-n")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for shard in (batched, single):
        name = shard.relative_to(tmp_path)
        assert f"{name} is damaged (not a whole Parquet file); moved it to" in dry.stderr
        assert not shard.exists() and shard.with_name(shard.name + ".corrupt").is_file()
    counts = job_counts(dry.stdout)
    assert scheduled_batches(dry.stdout) == [f"tiny/{manifest.stem}"]
    assert counts.pop("gradient_batch") == 1 and counts.pop("gradient_shard") == 1 and counts.pop("gradient_table") == 1
    done = run(tmp_path, TINY)
    assert done.returncode == 0, done.stdout + done.stderr
    columns = ["n_qubits", "cost_function", "n_samples", "grad_var"]
    assert pd.read_parquet(table)[columns].equals(pd.read_parquet(tiny_study / "results/tables/gradients.parquet")[columns])


def test_a_failing_table_job_keeps_the_previous_table(tiny_study, tmp_path):
    """A shard damaged inside (whole at both ends, so the plan cannot tell) makes the table job
    fail naming the file and what to do; the previous table, fits and figures stay in place."""
    tmp_path = copy_of(tiny_study, tmp_path)
    table, fits = tmp_path / "results/tables/gradients.parquet", tmp_path / "results/tables/scaling_fits.parquet"
    kept = {p: p.read_bytes() for p in (table, fits)}
    shard = shards(tmp_path)[0]
    data = bytearray(shard.read_bytes())
    data[8:len(data) // 2] = bytes(len(data) // 2 - 8)  # the column chunks zeroed, footer intact
    shard.write_bytes(bytes(data))
    os.utime(shard, (time.time() + 5, time.time() + 5))  # newer than the table: the table is rerun
    done = run(tmp_path, TINY, "--forcerun", "gradient_table")
    assert done.returncode != 0
    log = (tmp_path / "results/logs/aggregate/gradients.log").read_text()
    assert str(shard.relative_to(tmp_path)) in log and "delete it and run again" in log
    assert {p: p.read_bytes() for p in (table, fits)} == kept  # restored by Snakemake after the failure


def test_a_killed_run_resumes_without_recomputing_finished_shards(tmp_path):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["gradients"][0]["samples"] = 8000  # 4 chunks per point: 24 shards in 3 + 3 batches and 8 single jobs
    target = "results/tables/gradients.parquet"  # the shards and their aggregation; figures add nothing here
    proc = run(tmp_path, config, target, "--cores", "1", wait=False)
    deadline = time.time() + 300
    while len(shards(tmp_path)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = fingerprint(shards(tmp_path))
    assert 2 <= len(finished) < 24
    done = run(tmp_path, config, target)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(shards(tmp_path)) == 24
    assert fingerprint(finished) == finished  # none computed twice
    assert not list(tmp_path.rglob("*.tmp"))  # the killed job's temporary file is not a shard


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda b: b.update(ansatz="brickwall"), "ansatz"),
        (lambda b: b.update(samples=-5), "samples"),
        (lambda b: b.update(qubits=[]), "qubits"),
        (lambda b: b.update(qubit=[2, 3]), "qubit"),
        (lambda b: b.update(costs=["zz"], qubits=[1, 2]), "gradients[0].cost"),
        (lambda c: c["batch"].update(shards=0), "shards"),
    ],
    ids=["unknown-ansatz", "negative-samples", "empty-qubits", "misspelled-key", "cost-on-too-few-qubits",
         "empty-batches"],
)
def test_malformed_configs_are_rejected_before_any_job_runs(tmp_path, change, key):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    change(config if key == "shards" else config["gradients"][0])
    done = run(tmp_path, config)
    assert done.returncode != 0
    assert key in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


def test_the_default_config_dry_runs():
    done = subprocess.run([*SNAKEMAKE, "--directory", str(ROOT), "-n", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_default_config_has_one_rule_per_step(tmp_path):
    listed = subprocess.run([*SNAKEMAKE, "--directory", str(ROOT), "--list-rules"], capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # one line per rule, `name (docstring…`, the docstring's further lines indented
    rules = [line.split()[0] for line in listed.stdout.splitlines() if line.strip() and not line[0].isspace()]
    assert len(rules) == len(set(rules)) and {"gradient_batch", "gradient_shard", "gradient_table"} <= set(rules)
    assert not [rule for rule in rules if "__" in rule]  # nothing generated per batch
    # the default study's DAG (in a fresh directory: everything to do) has only these rules
    shutil.copytree(ROOT / "config", tmp_path / "config")
    graph = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--rulegraph"], capture_output=True, text=True,
                           timeout=300)
    assert graph.returncode == 0, graph.stdout + graph.stderr
    nodes = set(re.findall(r'label = "([^"]+)"', graph.stdout))
    assert "gradient_batch" in nodes and nodes <= set(rules)


def test_a_ten_thousand_point_config_dry_runs(tmp_path):
    # n ≤ 20 (about 1.4 GiB per job) so that the package's memory check passes on any test machine
    block = {"name": "big", "ansatz": "rx_product", "qubits": list(range(2, 21)), "depths": list(range(1, 67)),
             "costs": ["global", "local"], "inits": ["uniform", "uniform_sym", "uniform_half", "normal"],
             "sigma": 0.1, "samples": 1000}
    done = run(tmp_path, {"gradients": [block]}, "-n", "--quiet", "rules")
    assert done.returncode == 0, done.stdout + done.stderr
    counts = job_counts(done.stdout)
    # 19 x 528 points; n ≤ 10 (batch.max_qubits): 9 x 528 shards in batches of 100 (6 per qubit
    # count); n = 11…20: one job per shard
    assert counts.pop("gradient_shard") == 10 * 528
    assert counts.pop("gradient_batch") == 9 * 6
    assert not (tmp_path / "results").exists()
