"""The `landscapes` part of the workflow: train → scan → metrics → table and figures, driven by
`snakemake` in a study directory; a bad block is refused before any job runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
STUDY = {
    "seed": 5,
    "landscapes": [
        {"name": "gorge", "ansatz": "rx_product", "qubits": [3, 6], "depths": [1], "costs": ["global", "local"],
         "centres": ["zero"], "directions": ["halves"], "resolution": 17},
        {"name": "trained", "ansatz": "hea", "qubits": [3], "depths": [2], "costs": ["local"],
         "centres": ["trained"], "directions": ["pca", "segment"], "resolution": 11,
         "training": {"steps": 40, "lr": 0.1}},
        {"name": "dqnn", "model": "dqnn", "ansatz": "local1", "qubits": [2], "depths": [2], "costs": ["global"],
         "data": "zero", "centres": ["random"], "directions": ["hessian"], "dimensions": [1], "resolution": 9},
    ],
}


def run(study: Path, config: dict, *args: str):
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "--directory", str(study), "--configfile", str(study / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def test_landscape_study_end_to_end(tmp_path):
    done = run(tmp_path, STUDY)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_parquet(tmp_path / "results/tables/landscapes.parquet")
    # gorge: 2 n x 2 costs; trained: pca at the trained centre, the segment from the start; dqnn: 1
    assert table.groupby("name").size().to_dict() == {"gorge": 4, "trained": 2, "dqnn": 1}

    # the halves cross-section of ⊗ RX(θ_j) is Cerezo et al.'s closed form, through the workflow
    base = tmp_path / "results/landscapes/gorge/rx_product/n~6/depth~1"
    for cost in ("global", "local"):
        grid = pd.read_parquet(base / f"cost~{cost}/init~uniform/dtype~complex128/centre~zero/direction~halves/dims~2/grid.parquet")
        x, y = grid["a"].to_numpy(), grid["b"].to_numpy()
        cx, cy = np.cos(x / 2) ** 2, np.cos(y / 2) ** 2
        exact = 1 - cx**3 * cy**3 if cost == "global" else 1 - (cx + cy) / 2
        np.testing.assert_allclose(grid["cost"], exact, atol=1e-10)
        assert len(grid) == 17 * 17 and x.min() == pytest.approx(-np.pi) and x.max() == pytest.approx(np.pi)
    gorge = table[table["name"] == "gorge"].set_index(["n_qubits", "cost_function"])
    # Hessian at the minimum: I/2 (global), I/(2n) (local); the gorge's plateau grows with n
    assert gorge.loc[(6, "global"), "hessian_max"] == pytest.approx(0.5, abs=1e-10)
    assert gorge.loc[(6, "local"), "hessian_min"] == pytest.approx(1 / 12, abs=1e-10)
    assert gorge.loc[(6, "global"), "plateau_fraction"] > gorge.loc[(3, "global"), "plateau_fraction"]
    assert gorge.loc[(6, "global"), "fourier_max_frequency"] == pytest.approx(np.hypot(3, 3))
    assert gorge.loc[(6, "local"), "fourier_max_frequency"] == pytest.approx(1)

    # the segment runs from the random start (t = 0) to the trained end (t = 1); PCA explains the path
    trained = table[table["name"] == "trained"].set_index(["centre", "direction"])
    assert trained.loc[("random", "segment"), "dims"] == 1
    assert 0.5 < trained.loc[("trained", "pca"), "pca_explained_1"] <= 1
    path = pd.read_parquet(next((tmp_path / "results/landscapes/trained").rglob("direction~pca/dims~2/grid.parquet")))
    assert (path["kind"] == "path").sum() == 41
    train = pd.read_parquet(next((tmp_path / "results/landscapes/trained").rglob("train.parquet")))
    assert len(train) == 41 and train["cost"].iloc[-1] < train["cost"].iloc[0] - 0.1
    np.testing.assert_allclose(path.loc[path["kind"] == "path", "cost"], train["cost"], atol=1e-12)
    segment = pd.read_parquet(next((tmp_path / "results/landscapes/trained").rglob("direction~segment/dims~1/grid.parquet")))
    ends = segment.set_index("a")["cost"]
    t = ends.index.to_numpy()
    assert ends[t[np.argmin(np.abs(t))]] == pytest.approx(train["cost"].iloc[0], abs=1e-12)  # t = 0: the start
    assert ends[t[np.argmin(np.abs(t - 1))]] == pytest.approx(train["cost"].iloc[-1], abs=1e-12)  # t = 1: the end

    figures = tmp_path / "results/figures/landscapes"
    assert len(list(figures.rglob("landscape.png"))) == 7 and len(list(figures.rglob("landscape.pdf"))) == 7
    for name in ("gorge", "trained", "dqnn"):
        assert (figures / name / "hessian_spectra.pdf").stat().st_size > 0
    assert (figures / "gorge/cross_sections__zero__halves.png").stat().st_size > 0
    assert (figures / "trained/cross_sections__trained__pca.png").stat().st_size > 0
    assert (tmp_path / "results/tables/landscapes.html").exists()
    logs = tmp_path / "results/logs"
    scans = list((logs / "landscapes").rglob("scan.log"))  # one job per scan: its grid, then its metrics
    assert len(scans) == 7 and all("plateau fraction" in log.read_text() for log in scans)

    again = run(tmp_path, STUDY, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.update(centres=["random"], directions=["pca"]), "landscapes[1].directions: 'pca'"),
        (lambda b: b.update(centres=["identity"], directions=["random"], model="dqnn", ansatz="local1", data="zero"),
         "landscapes[1].centres: 'identity'"),
        (lambda b: b.update(directions=["hessian"], qubits=[16]), "landscapes[1].directions: 'hessian' at n = 16"),
        (lambda b: b.update(resolution=2), "resolution"),
        (lambda b: b.update(centres=["middle"]), "middle"),
        (lambda b: b.update(ansatz="hae"), "hae"),
    ],
    ids=["pca-without-trained-centre", "identity-centre-of-a-dqnn", "hessian-too-large", "resolution", "unknown-centre",
         "unknown-ansatz"],
)
def test_malformed_landscape_blocks_are_rejected_before_any_job_runs(tmp_path, change, message):
    config = yaml.safe_load(yaml.safe_dump(STUDY))
    change(config["landscapes"][1])
    done = run(tmp_path, config, "-n")
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()
