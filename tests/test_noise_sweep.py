"""Noise and shots as sweep dimensions: noisy gradients against closed forms and qiskit-aer,
shot-based variance against exact + shot-noise excess, clear refusals, and the workflow's
noise-induced plateau (variance falling with depth at fixed n) with its exact contraction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qnnscope import stats
from qnnscope.gradients.evaluate import compute, validate
from qnnscope.gradients.point import GradientPoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depolarised_local_gradients_shrink_by_one_minus_lambda_per_layer(depth):
    """⊗RX(θ_j) repeated L times, depolarising λ after every gate: ⟨Z_j⟩ = (1−λ)^L cos(Σθ), so
    every local-cost gradient is (1−λ)^L times the noiseless one, draw by draw."""
    lam = 0.2
    exact = compute(GradientPoint("rx_product", 3, depth, cost="local", dtype="complex128", params="all"), 64, 0, 7)
    noisy = compute(GradientPoint("rx_product", 3, depth, cost="local", dtype="complex128", params="all",
                                  noise=f"depolarizing:{lam}"), 64, 0, 7)
    np.testing.assert_allclose(noisy.grad, (1 - lam) ** depth * exact.grad, atol=1e-12)
    assert set(noisy.noise) == {"depolarizing:0.2"} and set(noisy.shots) == {0}


def test_depolarised_global_variance_has_its_closed_form():
    """Var[∂C_G/∂θ_1] = (1−λ)²/8 · ((1 + (1−λ)²/2)/4)^(n−1) (Cerezo et al.'s (1/8)(3/8)^(n−1) at λ = 0)."""
    n, lam = 3, 0.3
    frame = compute(GradientPoint("rx_product", n, 1, cost="global", dtype="complex128",
                                  noise=f"depolarizing:{lam}"), 20_000, 0, 3)
    summary = stats.summarize(frame.grad.to_numpy(), n_boot=500)
    exact = (1 - lam) ** 2 / 8 * ((1 + (1 - lam) ** 2 / 2) / 4) ** (n - 1)
    assert summary["var_lo"] < exact < summary["var_hi"]


def test_noisy_points_agree_between_the_engine_and_aer():
    point = dict(ansatz="hea", n_qubits=3, depth=2, cost="local", dtype="complex128", params="all",
                 noise="depolarizing_1q:0.05,depolarizing_2q:0.1,damping:0.02")
    engine = compute(GradientPoint(**point), 6, 0, 11)
    aer = compute(GradientPoint(**point, backend="qiskit-aer"), 6, 0, 11)
    np.testing.assert_allclose(engine.grad, aer.grad, atol=1e-10)
    np.testing.assert_allclose(engine.cost, aer.cost, atol=1e-10)


def test_shot_based_variance_is_exact_plus_the_shot_noise_excess():
    """Local cost of ⊗RX on n qubits: Var = 1/(8n²) + 1/(16 n shots)."""
    n, shots = 3, 20
    frame = compute(GradientPoint("rx_product", n, 1, cost="local", dtype="complex128", shots=shots), 20_000, 0, 5)
    summary = stats.summarize(frame.grad.to_numpy(), n_boot=500)
    expected = 1 / (8 * n**2) + 1 / (16 * n * shots)
    assert summary["var_lo"] < expected < summary["var_hi"]
    assert not summary["var_lo"] < 1 / (8 * n**2) < summary["var_hi"]  # the excess is visible
    point = GradientPoint("rx_product", n, 1, cost="local", dtype="complex128", shots=shots)
    np.testing.assert_array_equal(compute(point, 200, 0, 5).grad, compute(point, 200, 0, 5).grad)  # seeded
    assert not np.array_equal(compute(point, 200, 1, 5).grad, compute(point, 200, 0, 5).grad)  # chunks differ


@pytest.mark.parametrize("options,fragment", [
    ({"noise": "depolarizing:0.1", "backend": "pennylane"}, "noise and shots run on the backends torch, qiskit-aer"),
    ({"noise": "device:fake_manila", "shots": 100}, "simulated on qiskit-aer"),
    ({"noise": "bitflip:0.1"}, "unknown noise term 'bitflip'"),
    ({"shots": -1}, "shots: must be an integer >= 0"),
    ({"noise": "depolarizing:0.1", "method": "adjoint"}, "use the parameter-shift rule"),
])
def test_bad_noise_and_shots_are_refused(options, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        validate(GradientPoint("hea", 2, 1, **options), 10, prefix="gradients[0].")


def test_noise_induced_plateau_through_the_workflow(tmp_path):
    """Variance against depth at fixed n for several noise strengths: under depolarising noise
    the local-cost variance of ⊗RX falls as (1−λ)^(2L) exactly (same draws), noiseless it does not."""
    study = {"seed": 2, "gradients": [
        {"name": "noisy", "ansatz": "rx_product", "qubits": [2], "depths": [1, 2, 4], "costs": ["local"],
         "dtypes": ["complex128"], "noise": ["none", "depolarizing:0.1", "depolarizing:0.3"], "samples": 300},
        {"name": "shots", "ansatz": "rx_product", "qubits": [2], "depths": [1], "costs": ["local"],
         "shots": [10, 1000], "samples": 300},
    ]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(study))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_parquet(tmp_path / "results/tables/gradients.parquet")
    noisy = table[table.sweep == "noisy"].set_index(["noise", "depth"])["grad_var"]
    for lam in (0.1, 0.3):
        for depth in (1, 2, 4):
            assert noisy[(f"depolarizing:{lam}", depth)] == pytest.approx((1 - lam) ** (2 * depth) * noisy[("none", depth)],
                                                                        rel=1e-10)
    assert noisy[("depolarizing:0.3", 4)] < noisy[("depolarizing:0.3", 1)] / 8  # (0.7)^6 ≈ 0.118
    assert sorted(table[table.sweep == "shots"].shots) == [10, 1000]
    shard = next((tmp_path / "results/shards/gradients/noisy").rglob("noise~depolarizing:0.1/shots~0/*/chunk~0.parquet"))
    assert shard.exists()
    assert (tmp_path / "results/figures/gradients/noisy/variance_vs_depth.png").stat().st_size > 0
