"""Trainability diagnostics against exact values: Haar and real-Haar frame potentials and
entanglement, the product circuit's closed forms, QFIM ranks at the orbit dimension, Abbas et
al.'s effective dimension (closed form, and qiskit-machine-learning's EffectiveDimension), and
the normal_depth init's variance."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch

from qnnscope import diagnostics as dg
from qnnscope import haar
from qnnscope.circuits.ansatze import build
from qnnscope.circuits.description import Circuit, Op
from qnnscope.sampling import draw, stable_seed
from qnnscope.sim import engine
from qnnscope.stats import summarize

CI = 0.99


def pair_fidelities(circuit: Circuit, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    theta, choices = draw(circuit, 2 * pairs, seed)
    return dg.fidelities(circuit, theta, choices)


def test_exact_reference_values():
    d = 16
    assert dg.haar_frame_potential(1, d) == pytest.approx(1 / d)
    assert dg.haar_frame_potential(2, d) == pytest.approx(2 / (d * (d + 1)))
    assert dg.haar_frame_potential(3, d) == pytest.approx(math.factorial(3) * math.factorial(d - 1) / math.factorial(d + 2))
    assert dg.real_haar_frame_potential(1, d) == pytest.approx(1 / d)
    assert dg.real_haar_frame_potential(2, d) == pytest.approx(3 / (d * (d + 2)))
    assert dg.haar_meyer_wallach(d) == pytest.approx(2 * (1 - (2 + d / 2) / (d + 1)))
    # bin probabilities are the laws' integrals: Haar = Beta(1, d − 1), real Haar = Beta(1/2, (d − 1)/2)
    from scipy import stats

    edges = np.linspace(0, 1, 76)
    np.testing.assert_allclose(dg.haar_bin_probabilities(edges, d), np.diff(stats.beta(1, d - 1).cdf(edges)), atol=1e-15)
    np.testing.assert_allclose(dg.haar_bin_probabilities(edges, d, real=True),
                               np.diff(stats.beta(0.5, (d - 1) / 2).cdf(edges)), atol=1e-15)
    assert dg.haar_bin_probabilities(edges, d)[-1] > 0  # (1/75)^15, not rounded away


def test_haar_random_states_give_the_haar_frame_potential_and_entanglement():
    n, d, pairs = 4, 16, 5000
    psi = haar.states(2 * pairs, d, seed=11).numpy()
    fid = np.abs(np.sum(psi[0::2].conj() * psi[1::2], axis=1)) ** 2
    for t in (1, 2, 3):
        fp = dg.frame_potential(fid, t, ci=CI, seed=t)
        assert fp["lo"] <= dg.haar_frame_potential(t, d) <= fp["hi"], (t, fp)
    kl = dg.kl_divergence(fid, d, seed=1)
    assert kl["kl"] < 0.02  # the histogram's bias alone: about (bins − 1)/(2 · pairs) = 0.007
    q = summarize(dg.meyer_wallach(psi, n), ci=CI)
    assert q["mean_lo"] <= dg.haar_meyer_wallach(d) <= q["mean_hi"]


def test_meyer_wallach_of_product_and_ghz_states():
    product = np.kron(np.kron([1, 0], [0.6, 0.8]), [1 / math.sqrt(2), 1j / math.sqrt(2)])[None]
    ghz = np.zeros((1, 8), dtype=complex)
    ghz[0, [0, 7]] = 1 / math.sqrt(2)
    np.testing.assert_allclose(dg.meyer_wallach(product, 3), [0.0], atol=1e-15)
    np.testing.assert_allclose(dg.meyer_wallach(ghz, 3), [1.0], atol=1e-15)


def test_product_circuit_has_closed_form_frame_potential_and_no_entanglement():
    # ⊗ RX(θ_j) on |0…0⟩: F = Π_j cos²(Δ_j / 2), Δ_j uniform, so E F^t = (C(2t, t) / 4^t)^n
    n = 4
    circuit = build("rx_product", n, 1)
    fid, psi = pair_fidelities(circuit, 4000, seed=5)
    for t in (1, 2, 3):
        fp = dg.frame_potential(fid, t, ci=CI, seed=t)
        assert fp["lo"] <= (math.comb(2 * t, t) / 4**t) ** n <= fp["hi"], (t, fp)
    np.testing.assert_allclose(dg.meyer_wallach(psi, n), 0.0, atol=1e-12)
    deep, _ = pair_fidelities(build("hea", n, 10), 4000, seed=5)
    shallow_kl = dg.kl_divergence(fid, 2**n, seed=1)["kl"]
    deep_kl = dg.kl_divergence(deep, 2**n, seed=1)
    assert shallow_kl > 0.5 and shallow_kl > 50 * deep_kl["kl"]
    assert deep_kl["kl"] < 0.02 and deep_kl["kl_lo"] == 0  # consistent with Haar once the bias is taken off


def test_deep_hea_matches_haar_and_deep_real_circuit_matches_real_haar():
    n, d = 4, 16
    hea, hea_psi = pair_fidelities(build("hea", n, 12), 6000, seed=21)
    fp = dg.frame_potential(hea, 2, ci=CI, seed=2)
    assert fp["lo"] <= 2 / (d * (d + 1)) <= fp["hi"] and fp["hi"] < 3 / (d * (d + 2))
    q = summarize(dg.meyer_wallach(hea_psi, n), ci=CI)
    assert q["mean_lo"] <= (d - 2) / (d + 1) <= q["mean_hi"]
    # RY + CZ: real states, so the real-Haar law, 3/(d(d + 2)) at t = 2, not the Haar 2/(d(d + 1))
    real, _ = pair_fidelities(build("alternating", n, 12), 6000, seed=22)
    fp = dg.frame_potential(real, 2, ci=CI, seed=2)
    assert fp["lo"] <= 3 / (d * (d + 2)) <= fp["hi"] and fp["lo"] > 2 / (d * (d + 1))
    kl_real = dg.kl_divergence(real, d, real=True, seed=1)["kl"]
    kl_haar = dg.kl_divergence(real, d, seed=1)["kl"]
    assert kl_real < 0.02 and kl_haar > 5 * kl_real


def test_tangents_equal_autograd_through_the_engine():
    circuit = build("hva_xxz", 4, 1)  # RXX/RYY/RZZ lowered into primitives, slots shared by several gates
    theta, choices = draw(circuit, 3, seed=4)
    psi, dpsi = dg.tangents(circuit, theta, choices)
    for s in range(3):
        def real_state(x):
            return torch.view_as_real(engine.states(circuit, x[None], choices[s:s + 1], dtype="complex128", kernel=False)[0])

        jac = torch.autograd.functional.jacobian(real_state, torch.tensor(theta[s]))
        np.testing.assert_allclose(dpsi[s], (jac[:, 0] + 1j * jac[:, 1]).T.numpy(), atol=1e-12)
        np.testing.assert_allclose(psi[s], engine.states(circuit, theta[s:s + 1], choices[s:s + 1], dtype="complex128")[0],
                                   atol=1e-12)


def test_qfim_of_the_product_circuit_is_the_identity_and_layers_add_no_rank():
    n = 4
    theta, _ = draw(build("rx_product", n, 1), 5, seed=3)
    psi, dpsi = dg.tangents(build("rx_product", n, 1), theta)
    np.testing.assert_allclose(dg.qfim(psi, dpsi), np.broadcast_to(np.eye(n), (5, n, n)), atol=1e-12)
    deep = build("rx_product", n, 3)
    psi, dpsi = dg.tangents(deep, draw(deep, 5, seed=3)[0])
    assert deep.n_params == 3 * n and (dg.qfim_ranks(psi, dpsi) == n).all()


@pytest.mark.parametrize("name, depth, rank", [("hea", 8, 2 * 2**4 - 2), ("alternating", 10, 2**4 - 1)],
                         ids=["complex-orbit", "real-orbit"])
def test_qfim_rank_saturates_at_the_orbit_dimension(name, depth, rank):
    # CP^{d−1} has real dimension 2(d − 1); real states (RY + CZ) the sphere S^{d−1} (dimension d − 1)
    circuit = build(name, 4, depth)
    psi, dpsi = dg.tangents(circuit, draw(circuit, 4, seed=8)[0])
    assert circuit.n_params > rank and (dg.qfim_ranks(psi, dpsi) == rank).all()


def test_predicted_rank_is_none_without_the_lie_function(monkeypatch):
    monkeypatch.setitem(sys.modules, "qnnscope.lie", types.ModuleType("qnnscope.lie"))
    assert dg.predicted_qfim_rank(build("hea", 2, 1)) is None


def test_effective_dimension_of_the_product_circuit_has_its_closed_form():
    # p(k | θ) of ⊗ RX(θ_j): independent bits with p_j = sin²(θ_j/2), each of Fisher information 1,
    # so F = I, F̂ = I and d_eff = n ln(1 + κ) / ln κ, κ = n_data / (2π ln n_data)
    n = 4
    circuit = build("rx_product", n, 1)
    sizes = np.array([100, 10_000, 1_000_000])
    result = dg.effective_dimension(circuit, draw(circuit, 7, seed=2)[0], sizes)
    np.testing.assert_allclose(result["fishers"], np.broadcast_to(np.eye(n), (7, n, n)), atol=1e-10)
    kappa = sizes / (2 * np.pi * np.log(sizes))
    np.testing.assert_allclose(result["value"], n * np.log1p(kappa) / np.log(kappa), rtol=1e-10)
    np.testing.assert_allclose(result["normalised"], result["value"] / n)


def test_effective_dimension_matches_qiskit_machine_learning():
    qiskit_ml = pytest.importorskip("qiskit_machine_learning.neural_networks")
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    from qnnscope.circuits.importers import from_qiskit

    x = [Parameter(f"x{i}") for i in range(2)]
    w = [Parameter(f"w{i}") for i in range(6)]
    qc = QuantumCircuit(2)
    qc.ry(x[0], 0)
    qc.ry(x[1], 1)
    qc.ry(w[0], 0)
    qc.rz(w[1], 1)
    qc.cx(0, 1)
    qc.rx(w[2], 0)
    qc.ry(w[3], 1)
    qc.cx(1, 0)
    qc.ry(w[4], 0)
    qc.rx(w[5], 1)
    rng = np.random.default_rng(7)
    weights, inputs = rng.uniform(0, 2 * np.pi, (5, 6)), rng.normal(0, 1, (4, 2))
    qnn = qiskit_ml.SamplerQNN(circuit=qc, input_params=x, weight_params=w)
    reference = qiskit_ml.EffectiveDimension(qnn, weight_samples=weights, input_samples=inputs)
    expected = reference.get_effective_dimension([1000, 100_000])

    circuit = from_qiskit(qc)
    names = list(circuit.param_names)
    input_slots = [names.index(p.name) for p in x]
    trainable = [p for p in range(circuit.n_params) if p not in input_slots]
    ours = np.zeros_like(weights)
    for k, p in enumerate(w):
        ours[:, trainable.index(names.index(p.name))] = weights[:, k]
    result = dg.effective_dimension(circuit, ours, [1000, 100_000], inputs=inputs, input_slots=input_slots)
    np.testing.assert_allclose(result["value"], expected, rtol=1e-8)
    assert (result["lo"] <= result["value"]).all() and (result["value"] <= result["hi"]).all()


def test_normal_depth_init_has_variance_sigma_squared_over_depth():
    sigma, depth = 0.8, 5
    circuit = build("hea", 3, depth)
    theta, _ = draw(circuit, 4000, seed=9, init="normal_depth", sigma=sigma)
    stats = summarize(theta.ravel(), ci=CI)  # 4000 × 30 independent angles
    assert stats["var_lo"] <= sigma**2 / depth <= stats["var_hi"]
    assert stats["mean_lo"] <= 0 <= stats["mean_hi"]
    # a user circuit records no layers: the depth is passed (the config's depth), else refused
    user = Circuit(1, (Op("RX", (0,), param=0),), 1, name="user", param_layer=(-1,))
    theta, _ = draw(user, 20000, seed=9, init="normal_depth", sigma=sigma, depth=4)
    assert summarize(theta.ravel(), ci=CI)["var_lo"] <= sigma**2 / 4 <= summarize(theta.ravel(), ci=CI)["var_hi"]
    with pytest.raises(ValueError, match="needs the circuit's depth L"):
        draw(user, 2, seed=0, init="normal_depth", sigma=sigma)


def test_a_point_row_has_every_metric_with_its_reference():
    point = dg.DiagnosticsPoint("rx_product", 3, 2, pairs=300, fisher_points=4, moments=(1, 2, 3))
    row = dg.evaluate(point, base_seed=1, n_boot=200)
    assert row["qfim_rank"] == row["qfim_rank_min"] == 3 and row["n_params"] == 6 and row["dim"] == 8
    assert row["meyer_wallach"] == pytest.approx(0, abs=1e-12)
    assert row["haar_frame_potential_t3"] == pytest.approx(dg.haar_frame_potential(3, 8))
    assert row["frame_potential_t2_lo"] <= row["frame_potential_t2"] <= row["frame_potential_t2_hi"]
    assert row["kl_haar_hi"] > row["kl_haar"] > row["kl_haar_lo"] > 0
    assert row["effective_dimension_lo"] <= row["effective_dimension"] <= row["effective_dimension_hi"]
    assert dg.evaluate(point, base_seed=1, n_boot=200)["kl_haar"] == row["kl_haar"]  # seeds from parameters
    assert dg.evaluate(point, base_seed=2, n_boot=200)["kl_haar"] != row["kl_haar"]
    assert point.seed_key() == dg.DiagnosticsPoint("rx_product", 3, 2, metrics=("qfim",)).seed_key()
    assert isinstance(stable_seed(point.seed_key()), int)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"metrics": ("expressivity",)}, r"metrics: \['expressivity'\] not allowed; allowed: expressibility"),
        ({"init": "normal", "sigma": float("nan")}, "sigma: init 'normal' needs sigma > 0, got nan"),
        ({"sigma": 0.1}, "sigma: applies only to init 'normal' or 'normal_depth'"),
        ({"init": "haar"}, "init: unknown init 'haar'; allowed: uniform"),
        ({"n_qubits": 20}, "qubits: 20 not allowed; allowed: 1 to 14"),
        ({"pairs": 10**8}, "pairs: 100000000 pairs at n = 4 evolve"),
        ({"ansatz": "brickwall"}, "ansatz: unknown ansatz 'brickwall'"),
        ({"dataset_size": 10}, "dataset_size: 10 not allowed"),
    ],
)
def test_bad_points_are_refused_naming_the_key(change, message):
    point = dg.DiagnosticsPoint(**{"ansatz": "hea", "n_qubits": 4, "depth": 2, **change})
    with pytest.raises(ValueError, match=f"^diagnostics\\[0\\]\\.{message}"):
        dg.check_point(point, "diagnostics[0].")


def test_the_figure_draws_every_panel_from_the_table(tmp_path):
    import pandas as pd

    from qnnscope.plots import diagnostics as plots

    rows = [dg.point_frame(point, dg.evaluate(point, n_boot=100), "s", str(point.depth), 1)
            for point in (dg.DiagnosticsPoint("rx_product", 2, depth, pairs=50, fisher_points=2) for depth in (1, 2))]
    figure = plots.diagnostics_vs_depth(pd.concat(rows, ignore_index=True))
    gids = {artist.get_gid() for ax in figure.axes for artist in ax.get_children()} - {None}
    assert {"kl", "kl_real", "meyer_wallach", "haar_q", "qfim_rank", "n_params", "predicted"} <= gids
    rank = next(line for line in figure.axes[2].lines if line.get_gid() == "qfim_rank")
    assert rank.get_ydata().tolist() == [2, 2]
    paths = plots.save(figure, tmp_path / "diagnostics")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
