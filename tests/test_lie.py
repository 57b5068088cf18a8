"""Dynamical Lie algebras and the deep-circuit variances they predict (qnnscope.lie), against
the literature's dimensions, closed forms, an independent dense closure, the exact twirl and
the engine's measured variances."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qnnscope import exact, lie, sampling
from qnnscope.circuits.ansatze import build
from qnnscope.circuits.description import Circuit, Op
from qnnscope.costs import make_cost


def dense_closure_dim(circuit: Circuit) -> int:
    """dim of the Lie closure of the circuit's generators as dense matrices (Gram–Schmidt on
    traceless anti-Hermitian matrices), independent of the Pauli-basis code."""
    pushed = lie.push(circuit)
    gens = [lie._dense(a) for a in lie.generators(pushed)]
    d = gens[0].shape[0]
    basis: list[np.ndarray] = []

    def add(m):
        v = m.reshape(-1).astype(complex)
        for _ in range(2):
            for b in basis:
                v = v - np.vdot(b, v) * b
        if np.linalg.norm(v) > 1e-7:
            basis.append(v / np.linalg.norm(v))
            return basis[-1]
        return None

    queue = [b for g in gens if (b := add(g - np.trace(g) / d * np.eye(d))) is not None]
    while queue:
        a = queue.pop().reshape(d, d)
        for g in gens:
            b = add(1j * (g @ a - a @ g))
            if b is not None:
                queue.append(b)
    return len(basis)


# --- dimensions --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_dla_dimensions_of_the_literature(n):
    d = 2**n
    expected = {
        "mcclean": (d * d - 1, "su"),
        "hea": (d * d - 1, "su"),
        "alternating": (d * (d - 1) // 2, "so"),  # real orthogonal: so(2^n)
        "rx_product": (n, "abelian"),
        "hva_tfim_open": (n * (2 * n - 1), None),  # free fermions: so(2n)
        "qaoa_ring": (3 * n - 1, "reductive"),  # Allcock et al. 2024: 3n − 1 on cycles
    }
    for name, (dim, kind) in expected.items():
        dla = lie.dynamical_lie_algebra(build(name, n, 3))
        assert dla.dim == dim, (name, n, dla.dim)
        if kind is not None:
            assert dla.kind == kind, (name, dla.kind)
    tfim = lie.dynamical_lie_algebra(build("hva_tfim_open", n, 3))
    assert f"so({2 * n})" in tfim.label and (n == 3 or tfim.kind == "free-fermion")
    assert lie.dynamical_lie_algebra(build("alternating", n, 3)).label == f"so({d})"
    assert lie.dynamical_lie_algebra(build("hea", n, 2)).label == f"su({d})"


def test_qaoa_ring_dla_is_su2_copies_and_two_u1():
    for n in (4, 6):
        dla = lie.dynamical_lie_algebra(build("qaoa_ring", n, 2))
        assert dla.centre_dim == 2 and [i.dim for i in dla.ideals] == [3] * (n - 1)
        assert dla.label == f"su(2)^⊕{n - 1} ⊕ u(1)^⊕2"


@pytest.mark.parametrize("name,n", [("equivariant", 3), ("equivariant", 4), ("hva_xxz", 4), ("qaoa_ring", 4),
                                    ("hva_tfim", 3), ("alternating", 3), ("qcnn", 4)])
def test_closure_equals_an_independent_dense_closure(name, n):
    circuit = build(name, n, 2)
    dla = lie.dynamical_lie_algebra(circuit)
    assert dla.dim == dense_closure_dim(circuit)
    known = sum(i.dim for i in dla.ideals if i.kind != "complement") + (dla.centre_dim or 0)
    assert known == dla.dim


def test_non_clifford_fixed_gates_are_pushed_exactly():
    # T and a fixed RY(0.3) between rotations: generators become Pauli sums
    ops = (Op("RX", (0,), param=0), Op("T", (0,)), Op("RY", (1,), angle=0.3), Op("CNOT", (0, 1)),
           Op("RZ", (1,), param=1), Op("T", (1,)), Op("RX", (1,), param=2), Op("CRZ", (1, 0), param=3))
    circuit = Circuit(2, ops, 4)
    dla = lie.dynamical_lie_algebra(circuit)
    assert dla.dim == dense_closure_dim(circuit)


def test_generic_split_gives_commuting_closed_ideals():
    circuit = build("equivariant", 4, 2)
    dla = lie.dynamical_lie_algebra(circuit)
    assert sorted(i.dim for i in dla.ideals) == [8, 24] and dla.centre_dim == 1  # su(3) ⊕ su(5) ⊕ u(1)
    assert dla.label == "su(3) ⊕ su(5) ⊕ u(1)"
    mats = [[lie._dense(b) for b in ideal.basis] for ideal in dla.ideals]
    for a in mats[0]:
        for b in mats[1]:
            assert np.abs(a @ b - b @ a).max() < 1e-9


def test_beyond_the_cap_the_algebra_is_classified(monkeypatch):
    # qcnn's pooling makes Pauli-sum generators; its single-string generators already give su(2^n)
    dla = lie.dynamical_lie_algebra(build("qcnn", 8, 1))
    assert dla.kind == "su" and dla.dim == 4**8 - 1 and not dla.enumerated
    # a small cap forces classification where enumeration is exact: same answers
    lie._analyse.cache_clear()
    monkeypatch.setattr(lie, "CLOSURE_CAP", 50)
    for name, kind, dim in (("hea", "su", 4**4 - 1), ("alternating", "so", 16 * 15 // 2)):
        small = lie.dynamical_lie_algebra(build(name, 4, 3))
        assert (small.kind, small.dim, small.enumerated) == (kind, dim, False)
    lie._analyse.cache_clear()


# --- closed forms ------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_mcclean_value_from_the_lie_formula(n):
    p = lie.predict(build("mcclean", n, 2 * n), make_cost("zz", n), 0)
    assert p.gradient_form == "one-sided"
    assert p.gradient_variance == pytest.approx(exact.two_design_variance(n), rel=1e-10)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_orthogonal_group_value_is_about_twice_the_unitary_one(n):
    d = 2**n
    zz = make_cost("zz", n)
    unitary = lie.predict(build("hea", n, 4), zz, 0)
    orthogonal = lie.predict(build("alternating", n, 4), zz, 0)
    assert unitary.loss_variance == pytest.approx(1 / (d + 1), rel=1e-10)  # Haar on U(d)
    assert orthogonal.loss_variance == pytest.approx(2 / (d + 2), rel=1e-10)  # Haar on O(d), real states
    assert orthogonal.method == "modules"  # Z0Z1 and |0⟩⟨0| are symmetric: outside so(d)
    assert 1.7 < orthogonal.loss_variance / unitary.loss_variance < 2.0


def test_product_ansatz_values_of_cerezo():
    for cost in ("global", "local"):
        for n in (2, 3, 4):
            p = lie.predict(build("rx_product", n, 1), make_cost(cost, n), 1)
            assert p.dla_type == f"u(1)^⊕{n}" and p.method == "twirl"
            assert p.gradient_variance == pytest.approx(exact.asymptote("rx_product", cost, n, 1, "uniform"), rel=1e-9)


def test_two_sided_su_closed_form():
    # Var = ¼ P(ρ) P(O) κ(H)/dim² with P(ρ) = 1 − 1/d, P(O) = d, κ = 2d·d: d²/(2(d − 1)(d + 1)²)
    for n in (3, 4, 6):
        d = 2**n
        circuit = build("hea", n, 6)
        p = lie.predict(circuit, make_cost("Z0", n), circuit.n_params // 2, average_prefix=False)
        assert p.gradient_form == "two-sided"
        assert p.gradient_variance == pytest.approx(d * d / (2 * (d - 1) * (d + 1) ** 2), rel=1e-10)


@pytest.mark.parametrize("name,cost,slot", [("hea", "Z0", 0), ("hea", "global", 20), ("alternating", "zz", 0),
                                            ("alternating", "local", 17), ("mcclean", "zz", 0)])
def test_module_formulas_equal_the_exact_twirl(name, cost, slot):
    n = 3
    circuit = build(name, n, 5)
    obs = make_cost(cost, n)
    p = lie.predict(circuit, obs, slot, average_prefix=False)  # the twirl takes the prefix Haar too
    assert p.method == "modules"
    pushed, dla = lie._analyse(circuit)
    group, _ = lie._slot_group(pushed, slot)
    t = lie._twirl_prediction(pushed, dla, pushed.observable(obs), group, "", p.one_sided)
    assert p.loss_variance == pytest.approx(t.loss_variance, rel=1e-8, abs=1e-13)
    assert p.gradient_variance == pytest.approx(t.gradient_variance, rel=1e-8, abs=1e-13)


# --- measured by the engine --------------------------------------------------------------------

def measured(circuit, obs, slot, draws=50_000, seed=11):
    from qnnscope.sim import engine

    theta, choices = sampling.draw(circuit, draws, seed)
    costs, grads = engine.adjoint(circuit, obs, theta, choices, dtype="complex128")
    out = []
    for x in (costs.numpy(), grads[:, slot].numpy()):
        c = x - x.mean()
        var = x.var(ddof=1)
        out.append((var, math.sqrt(max(np.mean(c**4) - var**2, 0.0) / len(x))))
    return out


@pytest.mark.parametrize(
    "name,n,depth,cost,slot,kind,method",
    [
        ("hea", 4, 40, "Z0", 161, "su", "modules"),  # O in g
        ("alternating", 4, 40, "zz", 121, "so", "modules"),  # O and ρ outside g = so(16)
        ("hva_tfim_open", 4, 80, "X0", 285, "free-fermion", "ideals"),  # X0 ∈ ig = so(8); slow mixing: L = 80
        ("qaoa_ring", 4, 20, "Z0Z1", 21, "reductive", "twirl"),  # su(2)^3 ⊕ u(1)^2
        ("rx_product", 4, 1, "local", 2, "abelian", "twirl"),
        ("mcclean", 3, 60, "zz", 0, "su", "modules"),
    ],
)
def test_deep_circuit_variances_match_the_engine(name, n, depth, cost, slot, kind, method):
    circuit = build(name, n, depth)
    obs = make_cost(cost, n)
    p = lie.predict(circuit, obs, slot)
    assert lie.dynamical_lie_algebra(circuit).kind == kind and p.method == method
    (var_c, se_c), (var_g, se_g) = measured(circuit, obs, slot)
    assert abs(var_c - p.loss_variance) < 4 * se_c, (var_c, p.loss_variance, se_c)
    assert abs(var_g - p.gradient_variance) < 4 * se_g, (var_g, p.gradient_variance, se_g)


def test_gradient_after_a_shallow_prefix_is_averaged_exactly():
    circuit = build("hea", 4, 30)
    obs = make_cost("Z0", 4)
    for slot in (1, 9):  # RZ after one RY on its wire; a gate of the second layer
        p = lie.predict(circuit, obs, slot)
        assert p.gradient_form == "prefix-averaged"
        (_, _), (var_g, se_g) = measured(circuit, obs, slot, draws=50_000, seed=slot)
        assert abs(var_g - p.gradient_variance) < 4 * se_g
    # the two-sided value would be wrong for slot 1: it is far from the measured one
    assert abs(lie.predict(circuit, obs, 9, average_prefix=False).gradient_variance - p.gradient_variance) > 10 * se_g


# --- QFIM rank ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,n,expected", [("hea", 3, 14), ("alternating", 3, 7), ("rx_product", 3, 3),
                                             ("hva_tfim_open", 3, None)])
def test_qfim_rank_saturates_at_the_orbit_dimension(name, n, expected):
    from qnnscope import diagnostics

    circuit = build(name, n, 12)
    predicted = lie.predicted_qfim_rank(circuit)
    if expected is not None:
        assert predicted == expected  # 2(d − 1) for su(d); d − 1 real states for so(d); n for the torus
    theta, choices = sampling.draw(circuit, 3, 5)
    psi, dpsi = diagnostics.tangents(circuit, theta, choices)
    ranks = diagnostics.qfim_ranks(psi, dpsi)
    assert max(ranks) == predicted


# --- reasons and the table columns -------------------------------------------------------------

def test_no_prediction_says_why():
    # O and ρ outside a reducible algebra beyond the twirl's size
    p = lie.predict(build("qaoa_ring", 6, 3), make_cost("Z0", 6), 0)
    assert math.isnan(p.loss_variance) and "twirl" in p.reason and p.dla_dim == 17
    # a slot driving gates at two separate places
    ops = (Op("RX", (0,), param=0), Op("RY", (0,), param=1), Op("RX", (0,), param=0))
    p = lie.predict(Circuit(1, ops, 2), make_cost("Z0", 1), 0)
    assert math.isnan(p.gradient_variance) and "separate places" in p.reason and not math.isnan(p.loss_variance)


def test_table_predictions_and_reasons():
    from qnnscope.gradients.theory import add_predictions

    base = {"model": "vqc", "init": "uniform", "sigma": np.nan, "identity_block": 0, "noise": "none", "shots": 0,
            "circuit": "", "data": ""}
    rows = [
        base | {"ansatz": "mcclean", "n_qubits": 4, "depth": 80, "cost_function": "zz", "param_index": 0},
        base | {"ansatz": "mcclean", "n_qubits": 4, "depth": 40, "cost_function": "zz", "param_index": 0},
        base | {"ansatz": "hea", "n_qubits": 4, "depth": 4, "cost_function": "Z0", "param_index": 1},
        base | {"ansatz": "alternating", "n_qubits": 4, "depth": 4, "cost_function": "local", "param_index": 0,
                "noise": "depolarizing:0.01"},
        base | {"ansatz": "hea", "n_qubits": 4, "depth": 4, "cost_function": "Z0", "param_index": 0, "init": "normal",
                "sigma": 0.1},
        base | {"model": "dqnn", "ansatz": "general", "n_qubits": 2, "depth": 2, "cost_function": "local",
                "param_index": 0, "data": "zero"},
    ]
    out = add_predictions(pd.DataFrame(rows))
    two_design = exact.two_design_variance(4)
    assert out.loc[0, "prediction"] == "exact" and out.loc[0, "var_predicted"] == pytest.approx(two_design)
    assert out.loc[1, "prediction"] == "lie:one-sided" and out.loc[1, "var_predicted"] == pytest.approx(two_design)
    assert out.loc[1, "dla_type"] == "su(16)" and out.loc[1, "dla_dim"] == 255
    assert out.loc[2, "prediction"] == "lie:prefix-averaged"
    assert np.isnan(out.loc[3, "var_predicted"]) and "noise" in out.loc[3, "prediction_reason"]
    assert out.loc[3, "dla_type"] == "so(16)"
    assert np.isnan(out.loc[4, "var_predicted"]) and "uniform over a full period" in out.loc[4, "prediction_reason"]
    assert np.isnan(out.loc[5, "var_predicted"]) and "dissipative" in out.loc[5, "prediction_reason"]
