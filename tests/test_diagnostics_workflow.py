"""The `diagnostics` part of the workflow: batch jobs of points → table → figure, driven by
`snakemake` in a study directory; finished points are never computed again, and a bad block is
refused before any job runs."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
STUDY = {
    "seed": 2,
    "bootstrap": 200,
    "diagnostics": [
        {"name": "product", "ansatz": "rx_product", "qubits": [3], "depths": [1, 2], "pairs": 200, "fisher_points": 3},
        {"name": "real", "ansatz": "alternating", "qubits": [3], "depths": ["2n"], "inits": ["uniform", "normal_depth"],
         "sigma": 1.0, "pairs": 200, "fisher_points": 3, "metrics": ["frame_potential", "meyer_wallach", "qfim"],
         "moments": [2]},
    ],
}


def run(study: Path, config: dict, *args: str):
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "--directory", str(study), "--configfile", str(study / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def points(study: Path) -> dict[Path, int]:
    """Every point file and its inode (a point written again gets a new one: atomic rename)."""
    return {p: p.stat().st_ino for p in (study / "results/diagnostics").rglob("*.parquet")}


def test_diagnostics_study_end_to_end_and_resumes(tmp_path):
    done = run(tmp_path, STUDY)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_parquet(tmp_path / "results/tables/diagnostics.parquet")
    assert table.groupby("sweep").size().to_dict() == {"product": 2, "real": 2}
    product = table[table["sweep"] == "product"].set_index("depth")
    # ⊗ RX: no entanglement, QFIM rank n at every depth (not n · depth), E F = 2^−n
    assert (product["meyer_wallach"].abs() < 1e-12).all()
    assert product["qfim_rank"].tolist() == [3, 3] and product["n_params"].tolist() == [3, 6]
    assert ((product["frame_potential_t1_lo"] <= 1 / 8) & (1 / 8 <= product["frame_potential_t1_hi"])).all()
    kappa = 100_000 / (2 * math.pi * math.log(100_000))
    assert product.loc[1, "effective_dimension"] == pytest.approx(3 * math.log1p(kappa) / math.log(kappa), rel=1e-9)
    real = table[table["sweep"] == "real"]
    assert set(real["init"]) == {"uniform", "normal_depth"} and (real["depth"] == 6).all()
    assert (real["depth_rule"] == "2n").all() and real["kl_haar"].isna().all()  # metrics not asked for
    assert real["real_haar_frame_potential_t2"].iloc[0] == pytest.approx(3 / (8 * 10))
    assert "qnnscope_version" in table.columns and (table["dtype"] == "complex128").all()
    logs = {p.relative_to(tmp_path / "results/logs").as_posix() for p in (tmp_path / "results/logs").rglob("*.log")}
    assert {"aggregate/diagnostics.log", "figures/diagnostics.log", "tables/diagnostics_html.log"} <= logs
    assert sum(log.startswith("diagnostics/") for log in logs) == 2  # one batch job per block and qubit count
    assert (tmp_path / "results/figures/diagnostics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "results/figures/diagnostics.pdf").read_bytes()[:5] == b"%PDF-"

    # a new depth computes only the new point; a deleted point is computed again, nothing else
    finished = points(tmp_path)
    grown = yaml.safe_load(yaml.safe_dump(STUDY))
    grown["diagnostics"][0]["depths"] = [1, 2, 4]
    deleted = next(p for p in finished if "/real/" in p.as_posix())
    deleted.unlink()
    done = run(tmp_path, grown)
    assert done.returncode == 0, done.stdout + done.stderr
    after = points(tmp_path)
    assert len(after) == 5 and all(after[p] == inode for p, inode in finished.items() if p != deleted)
    assert deleted in after
    assert len(pd.read_parquet(tmp_path / "results/tables/diagnostics.parquet")) == 5
    again = run(tmp_path, grown, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda b: b.update(pair=100), "pair"),
        (lambda b: b.update(metrics=["expressivity"]), "expressivity"),
        (lambda b: b.update(inits=["normal"], sigma=float("nan")), "diagnostics[0].sigma"),
        (lambda b: b.update(qubits=[30]), "30"),
    ],
    ids=["misspelled-key", "unknown-metric", "nan-sigma", "too-many-qubits"],
)
def test_malformed_diagnostics_blocks_are_rejected_before_any_job_runs(tmp_path, change, key):
    config = yaml.safe_load(yaml.safe_dump(STUDY))
    change(config["diagnostics"][0])
    done = run(tmp_path, config)
    assert done.returncode != 0
    assert key in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()
