"""The `qgradcam` part of the workflow: train → explain → evaluate → table and figures, driven by
`snakemake` in a study directory.  On synthetic images with ground-truth masks, QGrad-CAM's
pointing game is far above the random-map floor and the VQC randomisation check separates the
trained circuit from re-initialised ones (margins from the bootstrap CIs); a block whose user
data is missing is skipped with a message, a bad block refused before any job runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from qnnscope import qgradcam
from qnnscope.interpret import cam

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
STUDY = {
    "seed": 3,
    "qgradcam": [
        {"name": "shapes", "dataset": "synthetic_images", "options": {"n_per_class": 80, "n_classes": 3},
         "qubits": [3], "depths": [2], "training": {"epochs": 20, "lr": 0.02},
         "explain": {"samples": 48, "smoothgrad_samples": 4, "steps": 8, "tsne_samples": 60, "bootstrap": 500}},
        {"name": "user_mnist", "dataset": "mnist", "root": "/nonexistent/mnist", "models": ["vqc"]},
    ],
    "landscapes": [
        {"name": "shapes_landscape", "model": "hybrid", "qgradcam": "shapes", "ansatz": "dressed", "qubits": [3],
         "depths": [2], "centres": ["trained"], "directions": ["random", "segment"], "normalisation": "filter",
         "resolution": 7, "samples": 24, "extent": 0.5},
    ],
}
FIGURES = ("overlays__n~3__depth~2", "saliency__n~3__depth~2", "tsne__n~3__depth~2", "metrics", "curves")


def run(study: Path, config: dict, *args: str):
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "--directory", str(study), "--configfile", str(study / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    path = tmp_path_factory.mktemp("qgradcam")
    done = run(path, STUDY)
    assert done.returncode == 0, done.stdout + done.stderr
    return path, done


def _row(table, model, method, metric):
    rows = table[(table.model == model) & (table.method == method) & (table.metric == metric)]
    assert len(rows) == 1, (model, method, metric)
    return rows.iloc[0]


def test_study_runs_and_skips_missing_user_data(study):
    path, done = study
    assert "qgradcam[1] (user_mnist) skipped" in done.stderr and "/nonexistent/mnist" in done.stderr
    table = pd.read_parquet(path / "results/tables/qgradcam.parquet")
    assert set(table.name) == {"shapes"} and set(table.model) == {"vqc", "dressed", "classical"}
    assert set(table[table.model == "classical"].depth) == {0}
    accuracy = table.groupby("model").test_accuracy.first()
    assert accuracy["vqc"] > 0.9 and accuracy["dressed"] > 0.9
    figures = path / "results/figures/qgradcam/shapes"
    for name in FIGURES:
        assert (figures / f"{name}.png").stat().st_size > 0 and (figures / f"{name}.pdf").stat().st_size > 0
    logs = list((path / "results/logs/qgradcam/shapes").rglob("*.log"))
    assert len(logs) == 6  # train, and explain with its faithfulness scores, of three models
    assert not list((path / "results/qgradcam").rglob("checkpoint.pt"))


@pytest.mark.parametrize("model", ["vqc", "dressed"])
def test_qgradcam_points_at_the_evidence_far_above_the_random_floor(study, model):
    table = pd.read_parquet(study[0] / "results/tables/qgradcam.parquet")
    q, floor = _row(table, model, "qgradcam", "pointing_game"), _row(table, model, "random", "pointing_game")
    assert q.lo > floor.hi + 0.2, (q.to_dict(), floor.to_dict())
    energy, floor_energy = _row(table, model, "qgradcam", "mask_energy"), _row(table, model, "random", "mask_energy")
    assert energy.lo > 1.5 * floor_energy.hi


@pytest.mark.parametrize("model", ["vqc", "dressed"])
def test_randomisation_check_separates_trained_from_reinitialised_circuits(study, model):
    table = pd.read_parquet(study[0] / "results/tables/qgradcam.parquet")
    rho = _row(table, model, "qgradcam", "randomisation_spearman")
    assert rho.n_samples == 48 * 4  # four re-initialisations pooled
    assert rho.hi < 0.7  # the trained model's map against itself has ρ = 1 exactly


def test_stored_qgradcam_maps_are_the_explicit_form_and_equal_autograd(study):
    path = study[0]
    job = {**STUDY["qgradcam"][0], "root": None, "model": "vqc", "n": 3, "depth": 2, "test_fraction": 0.2,
           "entangler": "cnot", "channels": [8, 16], "dtype": "complex64"}
    job["explain"] = {**job["explain"], "samples": 48}
    model, test_ds = qgradcam.load_model(job, path / "results/qgradcam/shapes/model~vqc/n~3/depth~2/model.pt", STUDY["seed"])
    ds = qgradcam.balanced(test_ds, 48)
    stored = pd.read_parquet(path / "results/qgradcam/shapes/model~vqc/n~3/depth~2/explanations.parquet")
    maps = qgradcam.maps_of(stored, "qgradcam")
    target = torch.as_tensor(stored[stored.method == "input"].sort_values("sample").target.to_numpy().copy())
    explicit = cam.upsample(cam.qgradcam(model, ds.x, target).maps, ds.x.shape[-2:])
    auto = cam.upsample(cam.gradcam(model, ds.x, target).maps, ds.x.shape[-2:])
    np.testing.assert_allclose(maps.numpy(), explicit.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(explicit.numpy(), auto.numpy(), atol=1e-5 * float(auto.abs().max()))


def test_bad_blocks_are_refused_before_any_job(tmp_path):
    bad = {"qgradcam": [{"name": "x", "dataset": "digits", "options": {"size": 4}}]}
    done = run(tmp_path, bad, "-n")
    assert done.returncode != 0 and "qgradcam[0].options: 'size' not an option of dataset 'digits'" in done.stdout + done.stderr
    bad = {"qgradcam": [{"name": "x", "dataset": "imagenet"}]}
    done = run(tmp_path, bad, "-n")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "imagenet" in out and "synthetic_speech" in out and "cifar10" in out
    bad = {"qgradcam": [{"name": "x", "dataset": "digits"}, {"name": "x", "dataset": "synthetic_images"}]}
    done = run(tmp_path, bad, "-n")
    assert done.returncode != 0 and "qgradcam[1].name: 'x' is used by two qgradcam blocks" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


def test_hybrid_landscape_scans_the_trained_model(study):
    """Landscape of the trained dressed model (issue 5's hybrid case): the scan's centre is the
    trained model's cross-entropy on the scanned samples, and the segment runs from the
    initialisation (t = 0, the start of the recorded training path) down to it (t = 1)."""
    path = study[0]
    table = pd.read_parquet(path / "results/tables/landscapes.parquet")
    assert set(table.direction) == {"random", "segment"} and set(table.model) == {"hybrid"}
    root = next((path / "results/landscapes/shapes_landscape").glob("hybrid_dressed_shapes/n~3/depth~2/*/*/*"))
    grid = pd.read_parquet(root / "centre~trained/direction~random/dims~2/grid.parquet")
    job = {**STUDY["qgradcam"][0], "root": None, "model": "dressed", "n": 3, "depth": 2, "test_fraction": 0.2,
           "entangler": "cnot", "channels": [8, 16], "dtype": "complex64"}
    train_ds, _ = qgradcam.study_data(job, STUDY["seed"])
    sub = qgradcam.balanced(train_ds, 24)
    model, _ = qgradcam.load_model({**job, "explain": {"samples": 2}},
                                   path / "results/qgradcam/shapes/model~dressed/n~3/depth~2/model.pt", STUDY["seed"])
    model = model.double()
    model.quantum.dtype = torch.complex128
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(sub.x.double()), sub.y).item()
    centre = grid[(grid.a.abs() < 1e-12) & (grid.b.abs() < 1e-12)]
    assert centre.cost.iloc[0] == pytest.approx(expected, abs=1e-10)
    assert grid.a.max() == pytest.approx(0.5)  # filter normalisation: α in plain units
    segment = pd.read_parquet(root / "centre~random/direction~segment/dims~1/grid.parquet").set_index("a")["cost"]
    t = segment.index.to_numpy()
    start, end = segment[t[np.argmin(np.abs(t))]], segment[t[np.argmin(np.abs(t - 1))]]
    assert end == pytest.approx(expected, abs=1e-10) and start > end + 0.5
    figures = path / "results/figures/landscapes/shapes_landscape"
    assert len(list(figures.rglob("landscape.png"))) == 2 and (figures / "hessian_spectra.png").exists()
