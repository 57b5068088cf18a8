"""Circuit families of the literature (:mod:`qnnscope.circuits.families`): every backend agrees on
costs and gradients, and each family has the structure its paper claims (parameter counts,
symmetries, free-fermion evolution, light cones, the QAOA p = 1 ring optimum)."""

from __future__ import annotations

import itertools
import math
from functools import partial, reduce

import numpy as np
import pytest
from scipy.linalg import expm

from qnnscope.backends import get_backend
from qnnscope.circuits import ANSATZE, build
from qnnscope.circuits.description import Circuit, Op
from qnnscope.circuits.families import (
    FAMILIES,
    equivariant,
    hva_tfim,
    hva_xxz,
    matchgate,
    qaoa,
    qaoa_ring,
    qcnn,
    qcnn_n_params,
    read_edges,
    singlets,
    su4_block,
    ttn,
)
from qnnscope.circuits.lowering import dense_unitary
from qnnscope.costs import Observable, make_cost
from qnnscope.sim import engine

# complex128 throughout; circuits of a few hundred gates on ≤ 8 qubits accumulate rounding of
# ~1e-14 on O(1) values, so 1e-10 between backends and 1e-12 for exact symmetries leave room
# while a wrong angle, sign or wire is an O(0.1) error.
ATOL = 1e-10
SYM = 1e-12

I2 = np.eye(2, dtype=complex)
PAULI = {
    "I": I2,
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def pauli(n: int, letters: dict[int, str]) -> np.ndarray:
    """The Pauli string with ``letters[w]`` on wire w (wire 0 most significant)."""
    return reduce(np.kron, [PAULI[letters.get(w, "I")] for w in range(n)])


def dense(obs: Observable) -> np.ndarray:
    """The 2^n × 2^n matrix of an observable."""
    n = obs.n_qubits
    h = obs.constant * np.eye(2**n, dtype=complex)
    for coeff, string in obs.terms:
        h = h + coeff * pauli(n, dict(string))
    h[0, 0] += obs.projector_coeff
    return h


def no_choices(s: int) -> np.ndarray:
    return np.zeros((s, 0), dtype=np.int64)


def random_theta(circuit: Circuit, s: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-math.pi, math.pi, size=(s, circuit.n_params))


# --- every backend agrees ---------------------------------------------------------------------

CASES = {
    "qcnn-2-d2": lambda: qcnn(2, 2),
    "qcnn-4-d1": lambda: qcnn(4, 1),
    "qcnn-4-d2-shared": lambda: qcnn(4, 2, shared=True),
    "qcnn-8-d1": lambda: qcnn(8, 1),
    "ttn-2-d1": lambda: ttn(2, 1),
    "ttn-4-d2": lambda: ttn(4, 2),
    "ttn-8-d1": lambda: ttn(8, 1),
    "hva_tfim-2-d1": lambda: hva_tfim(2, 1),
    "hva_tfim-4-d2": lambda: hva_tfim(4, 2),
    "hva_tfim-4-d2-identity": lambda: hva_tfim(4, 2, identity_block=1),
    "hva_xxz-4-d2": lambda: hva_xxz(4, 2),
    "hva_xxz-6-d1-open": lambda: hva_xxz(6, 1, periodic=False),
    "qaoa_ring-4-d2": lambda: qaoa_ring(4, 2),
    "qaoa-weighted-4-d2-identity": lambda: qaoa(4, 2, [(0, 1, 0.5), (1, 3, -1.5), (0, 2)], identity_block=1),
    "matchgate-4-d2": lambda: matchgate(4, 2),
    "equivariant-4-d2": lambda: equivariant(4, 2),
}
COSTS = ("local", "0.5*Z0Z1 - 0.3*X1 + 0.2*Y0Y1 - 0.7*X0Z1", "tfim:g=0.7")


@pytest.fixture(scope="module")
def backends():
    return {
        "engine-adjoint": get_backend("torch", method="adjoint"),
        "engine-param-shift": get_backend("torch", method="param-shift"),
        "pennylane": get_backend("pennylane"),
        "qiskit-aer": get_backend("qiskit-aer"),
    }


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_backends_agree_on_costs_and_all_gradients(backends, case, cost):
    circuit = CASES[case]()
    obs = make_cost(cost, circuit.n_qubits)
    theta = random_theta(circuit, 3, seed=len(case))
    params = list(range(circuit.n_params))
    reference_costs, reference_grads = engine.adjoint(circuit, obs, theta, no_choices(3), dtype="complex128")
    reference_costs, reference_grads = reference_costs.numpy(), reference_grads.numpy()
    # the dense oracle for the costs: ⟨0|U† O U|0⟩ with U from the gates' matrices
    h = dense(obs)
    oracle = [np.vdot(u[:, 0], h @ u[:, 0]).real for u in (dense_unitary(circuit, row) for row in theta)]
    np.testing.assert_allclose(reference_costs, oracle, rtol=0, atol=ATOL, err_msg="engine vs dense oracle")
    if cost == "local" and case.startswith(("hva_", "qaoa")):
        # The start (|+…+⟩, or singlets: each odd under X⊗X) is an eigenstate of the parity ∏X and
        # every layer commutes with it, while each Z_j anticommutes with it: ⟨Z_j⟩ = 0 throughout.
        assert np.abs(reference_costs - 0.5).max() < SYM and np.abs(reference_grads).max() < SYM
    else:
        assert np.abs(reference_grads).max() > 1e-3  # the comparison below is not between zeros
    for name, backend in backends.items():
        costs, grads = backend.evaluate(circuit, obs, theta, no_choices(3), params, "complex128")
        np.testing.assert_allclose(costs, reference_costs, rtol=0, atol=ATOL, err_msg=f"{name} costs")
        np.testing.assert_allclose(grads, reference_grads, rtol=0, atol=ATOL, err_msg=f"{name} gradients")


def test_registry_names_and_signature():
    assert sorted(FAMILIES) == sorted(
        ["qcnn", "ttn", "hva_tfim", "hva_tfim_open", "hva_xxz", "qaoa_ring", "matchgate", "equivariant"]
    )
    # merged into the ansatz registry under the same names, without shadowing a layered ansatz
    assert all(ANSATZE[name] is builder for name, builder in FAMILIES.items())
    assert {"mcclean", "alternating", "rx_product", "hea"} <= set(ANSATZE) - set(FAMILIES)
    for name, builder in FAMILIES.items():
        circuit = builder(4, 2, 0)  # the ANSATZE signature f(n_qubits, depth, identity_block)
        assert circuit.name == name and circuit.n_qubits == 4


# --- QCNN and TTN -----------------------------------------------------------------------------


@pytest.mark.parametrize("n, depth, expected", [(2, 1, 17), (4, 1, 66), (4, 2, 126), (8, 1, 179), (16, 1, 420)])
def test_qcnn_parameter_count(n, depth, expected):
    # independent blocks: 15·depth·(2n − 2 − log2 n) + (2n − 2); e.g. n = 4: level 0 has 3 blocks
    # per convolution layer (pairs 01, 23, then 12) and 2 pooling units, level 1 one block and one
    # pooling unit: 45 + 4 + 15 + 2 = 66 at depth 1.
    assert qcnn(n, depth).n_params == qcnn_n_params(n, depth) == expected


@pytest.mark.parametrize("n, depth, expected", [(2, 1, 17), (4, 1, 49), (4, 2, 94), (8, 1, 81)])
def test_shared_qcnn_parameter_count(n, depth, expected):
    # one 15-slot set per brickwork half-layer, two pooling slots per level: 15·depth·(2L − 1) + 2L
    assert qcnn(n, depth, shared=True).n_params == qcnn_n_params(n, depth, shared=True) == expected


def test_qcnn_pooled_wires_are_never_touched_again():
    circuit = qcnn(8, 2)
    # the pooling layers end at the ops after which wires {odd}, then {2, 6}, then {4} are gone
    dropped_after: dict[int, int] = {}
    for index, op in enumerate(circuit.ops):
        if op.gate == "CRX":
            dropped_after[op.wires[0]] = index
    assert sorted(dropped_after) == [1, 2, 3, 4, 5, 6, 7]
    for wire, last in dropped_after.items():
        later = [op for op in circuit.ops[last + 2:] if wire in op.wires]  # +2: the closing X
        assert later == [], f"wire {wire} used after it was pooled"


def test_su4_block_reaches_every_direction_of_su4():
    # The map θ ↦ U(θ) of the 15-slot block has a full-rank Jacobian: U† ∂U/∂θ_k span the
    # 15-dimensional su(4) (the determinant is fixed, so all tangents are traceless).
    block = Circuit(2, tuple(su4_block(0, 1)), 15)
    theta = np.random.default_rng(3).uniform(-math.pi, math.pi, 15)
    u = dense_unitary(block, theta)
    tangents = []
    for k in range(15):
        step = np.zeros(15)
        step[k] = 1e-6
        du = (dense_unitary(block, theta + step) - dense_unitary(block, theta - step)) / 2e-6
        a = u.conj().T @ du
        np.testing.assert_allclose(np.trace(a), 0, atol=1e-8)
        tangents.append(np.concatenate([a.real.ravel(), a.imag.ravel()]))
    singular = np.linalg.svd(np.array(tangents), compute_uv=False)
    assert singular.min() > 1e-3  # rank 15 (the smallest is O(0.1) here)


def heisenberg_support(u: np.ndarray, n: int, wire_out: int = 0) -> list[float]:
    """For each input wire j, ‖[U† Z_out U, X_j]‖ + ‖[U† Z_out U, Z_j]‖ (0 iff independent of j)."""
    o = u.conj().T @ pauli(n, {wire_out: "Z"}) @ u
    out = []
    for j in range(n):
        out.append(sum(np.linalg.norm(o @ p - p @ o) for p in (pauli(n, {j: "X"}), pauli(n, {j: "Z"}))))
    return out


@pytest.mark.parametrize("make", [partial(qcnn, depth=1), partial(ttn, depth=1)], ids=["qcnn", "ttn"])
@pytest.mark.parametrize("n", [2, 4, 8])
def test_the_final_qubit_depends_on_every_input_wire(make, n):
    circuit = make(n)
    u = dense_unitary(circuit, random_theta(circuit, 1, seed=n)[0])
    support = heisenberg_support(u, n)
    assert min(support) > 1e-2, support


@pytest.mark.parametrize("make, reach", [(qcnn, 4), (ttn, 2)], ids=["qcnn", "ttn"])
def test_the_first_level_alone_has_a_bounded_light_cone(make, reach):
    # The support check has teeth: after the first level only, Z0 sees wires 0..reach−1 (ttn: its
    # node (0, 1); qcnn: pooling 1→0 after the brickwork (0,1), (2,3), then (1,2)).
    n = 8
    circuit = make(n, 1)
    units = [i for i, op in enumerate(circuit.ops) if op.gate == ("CRX" if make is qcnn else "CNOT")]
    end = units[n // 2 - 1] + (2 if make is qcnn else 1)  # the first level's last op (qcnn: closing X)
    row = random_theta(circuit, 1, seed=1)[0]
    fixed = Circuit(n, tuple(freeze(op, row) for op in circuit.ops[:end]), 0)
    support = heisenberg_support(dense_unitary(fixed, []), n)
    assert min(support[:reach]) > 1e-2, support
    assert max(support[reach:]) < SYM, support


def freeze(op: Op, row) -> Op:
    """``op`` with its trainable angle frozen at its value for ``row``."""
    if op.param is None:
        return op
    return Op(op.gate, op.wires, angle=op.angle_of(row))


def test_ttn_parameter_count_and_blocks():
    for n, depth in [(2, 1), (4, 2), (8, 3)]:
        assert ttn(n, depth).n_params == 2 * depth * (n - 1)
    ops = ttn(4, 1).ops
    assert [(op.gate, op.wires) for op in ops] == [
        ("RY", (0,)), ("RY", (1,)), ("CNOT", (1, 0)),
        ("RY", (2,)), ("RY", (3,)), ("CNOT", (3, 2)),
        ("RY", (0,)), ("RY", (2,)), ("CNOT", (2, 0)),
    ]
    assert [op.param for op in ops if op.param is not None] == list(range(6))


# --- Hamiltonian variational ansätze ----------------------------------------------------------


def hadamards(n: int) -> np.ndarray:
    return reduce(np.kron, [np.array([[1, 1], [1, -1]]) / math.sqrt(2)] * n).astype(complex)


@pytest.mark.parametrize("n", [2, 4, 5])
def test_hva_tfim_is_the_product_of_generator_exponentials_and_keeps_parity(n):
    depth = 2
    circuit = hva_tfim(n, depth)
    assert circuit.n_params == 2 * depth
    theta = random_theta(circuit, 1, seed=7)[0]
    u = dense_unitary(circuit, theta)
    edges = [(0, 1)] if n == 2 else [(i, (i + 1) % n) for i in range(n)]
    h_zz = sum(pauli(n, {i: "Z", j: "Z"}) for i, j in edges)
    h_x = sum(pauli(n, {i: "X"}) for i in range(n))
    expected = hadamards(n)
    for layer in range(depth):
        beta, gamma = theta[2 * layer], theta[2 * layer + 1]
        expected = expm(-0.5j * gamma * h_x) @ expm(-0.5j * beta * h_zz) @ expected
    np.testing.assert_allclose(u, expected, rtol=0, atol=SYM)
    layers = u @ hadamards(n)  # U = layers · H^{⊗n}, and H^{⊗n} is its own inverse
    parity = pauli(n, {j: "X" for j in range(n)})
    np.testing.assert_allclose(layers @ parity, parity @ layers, rtol=0, atol=SYM)
    psi = u[:, 0]
    assert np.vdot(psi, parity @ psi).real == pytest.approx(1.0, abs=SYM)


def test_hva_xxz_starts_in_singlets_and_conserves_magnetisation():
    n = 6
    circuit = hva_xxz(n, 2)
    assert circuit.n_params == 8
    even_bonds = sum(
        pauli(n, {a: p, a + 1: p}) for a in range(0, n, 2) for p in "XYZ"
    )
    psi0 = dense_unitary(circuit, np.zeros(circuit.n_params))[:, 0]
    # each singlet has ⟨XX⟩ = ⟨YY⟩ = ⟨ZZ⟩ = −1
    assert np.vdot(psi0, even_bonds @ psi0).real == pytest.approx(-3 * n / 2, abs=SYM)
    prep = dense_unitary(Circuit(n, tuple(singlets(n)), 0), [])
    theta = random_theta(circuit, 1, seed=5)[0]
    u = dense_unitary(circuit, theta)
    layers = u @ prep.conj().T
    sz = sum(pauli(n, {j: "Z"}) for j in range(n))
    np.testing.assert_allclose(layers @ sz, sz @ layers, rtol=0, atol=SYM)
    psi = u[:, 0]
    assert np.vdot(psi, sz @ sz @ psi).real == pytest.approx(0.0, abs=SYM)
    # random angles do move the state (the layers are not trivial on the singlets)
    assert abs(np.vdot(psi0, psi)) < 0.99


def test_hva_xxz_shares_one_slot_per_bond_group_and_generator():
    circuit = hva_xxz(4, 1)
    by_slot = {p: sorted((op.gate, op.wires) for op in circuit.ops if op.param == p) for p in range(4)}
    assert by_slot == {
        0: [("RZZ", (1, 2)), ("RZZ", (3, 0))],
        1: [("RXX", (1, 2)), ("RXX", (3, 0)), ("RYY", (1, 2)), ("RYY", (3, 0))],
        2: [("RZZ", (0, 1)), ("RZZ", (2, 3))],
        3: [("RXX", (0, 1)), ("RXX", (2, 3)), ("RYY", (0, 1)), ("RYY", (2, 3))],
    }


# --- QAOA -------------------------------------------------------------------------------------


def maxcut(n: int, edges) -> Observable:
    """Σ_edges (1 − Z_iZ_j)/2."""
    terms = tuple((-0.5, ((i, "Z"), (j, "Z"))) for i, j in edges)
    return Observable(n, terms, constant=len(edges) / 2, name="maxcut")


@pytest.mark.parametrize("n", [6, 8])
def test_qaoa_p1_on_an_even_ring_reaches_three_quarters_of_the_edges(n):
    circuit = qaoa_ring(n, 1)
    assert circuit.n_params == 2
    # Farhi et al.'s optimum γ = π/4, β = π/8 is (γ_slot, β_slot) = (−γ, 2β) = (7π/4, π/4) here
    grid = np.arange(32) * (2 * math.pi / 32)
    theta = np.array(list(itertools.product(grid, grid)))
    values = engine.expectation(
        circuit, maxcut(n, [(i, (i + 1) % n) for i in range(n)]), theta, no_choices(len(theta)), dtype="complex128"
    ).numpy()
    assert values.max() == pytest.approx(3 * n / 4, abs=1e-3)
    assert values.max() <= 3 * n / 4 + 1e-10  # no grid point beats the p = 1 optimum
    at_optimum = values[np.all(np.isclose(theta, [7 * math.pi / 4, math.pi / 4]), axis=1)]
    assert at_optimum == pytest.approx([3 * n / 4], abs=1e-12)


def test_weighted_qaoa_is_the_product_of_generator_exponentials():
    n = 4
    edges = [(0, 1, 0.5), (1, 3, -1.5), (2, 0)]
    circuit = qaoa(n, 2, edges)
    theta = random_theta(circuit, 1, seed=9)[0]
    h_c = sum((e[2] if len(e) == 3 else 1.0) * pauli(n, {e[0]: "Z", e[1]: "Z"}) for e in edges)
    h_b = sum(pauli(n, {j: "X"}) for j in range(n))
    expected = hadamards(n)
    for layer in range(2):
        expected = expm(-0.5j * theta[2 * layer + 1] * h_b) @ expm(-0.5j * theta[2 * layer] * h_c) @ expected
    np.testing.assert_allclose(dense_unitary(circuit, theta), expected, rtol=0, atol=SYM)


@pytest.mark.parametrize("builder", [partial(hva_tfim, 4), partial(qaoa, 4, edges=[(0, 1, 0.5), (2, 3, 2.0)]),
                                     partial(equivariant, 3)], ids=["hva_tfim", "qaoa", "equivariant"])
def test_identity_blocks_keep_sharing_and_scales(builder):
    circuit = builder(4, identity_block=2)
    plain = builder(2)
    assert circuit.n_params == 2 * plain.n_params  # one mirrored slot per slot, sharing kept
    theta = random_theta(circuit, 1, seed=2)[0]
    dst, src = np.array(circuit.ties).T
    theta[dst] = -theta[src]
    first = min(i for i, op in enumerate(circuit.ops) if op.param is not None)
    preamble = Circuit(circuit.n_qubits, circuit.ops[:first], 0)
    np.testing.assert_allclose(dense_unitary(circuit, theta), dense_unitary(preamble, []), rtol=0, atol=SYM)


def test_read_edges_reads_comments_commas_and_weights(tmp_path):
    path = tmp_path / "graph.txt"
    path.write_text("# a weighted triangle\n0 1\n\n1, 2, 0.5   # comma separated\n2\t0\t-2e-1\n")
    assert read_edges(path) == [(0, 1, 1.0), (1, 2, 0.5), (2, 0, -0.2)]
    circuit = qaoa(3, 1, read_edges(path))
    assert [op.scale for op in circuit.ops if op.gate == "RZZ"] == [1.0, 0.5, -0.2]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("0 1\n1 1\n", "line 2: '1 1': self loop"),
        ("0 1\n0 x\n", "line 2: '0 x': wires must be non-negative integers"),
        ("0 1 2 3\n", "line 1: '0 1 2 3': expected 'i j' or 'i j weight'"),
        ("0 1 heavy\n", "line 1: '0 1 heavy': weight 'heavy' is not a number"),
        ("0 1 nan\n", "line 1: '0 1 nan': weight must be finite"),
        ("-1 2\n", "line 1: '-1 2': wires must be non-negative integers"),
        ("# nothing\n\n", "has no edges"),
    ],
)
def test_read_edges_errors_name_the_file_and_line(tmp_path, text, fragment):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_edges(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_read_edges_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"edge list '.*nope\.txt' cannot be read: No such file"):
        read_edges(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    "edges, message",
    [
        ([(0, 4)], r"edge 0 \(0, 4\) touches a wire outside 0\.\.3 \(4 qubits\)"),
        ([(0, 1), (2, 2)], r"edge 1 \(2, 2\) is a self loop"),
        ([(0, 1), (1, 0)], r"edge 1 \(1, 0\) repeats the edge \(1, 0\)"),
        ([(0, 1, float("inf"))], r"non-finite weight"),
        ([(0, 1.5)], r"needs integer wires"),
        ([], r"needs at least one edge"),
    ],
)
def test_qaoa_refuses_bad_edges(edges, message):
    with pytest.raises(ValueError, match=message) as info:
        qaoa(4, 1, edges)
    assert str(info.value).startswith("qaoa: ")


# --- free fermions ------------------------------------------------------------------------------


def majoranas(n: int) -> list[np.ndarray]:
    """Jordan–Wigner Majoranas c_{2j} = Z…Z X_j, c_{2j+1} = Z…Z Y_j."""
    out = []
    for j in range(n):
        for letter in "XY":
            out.append(pauli(n, {**{k: "Z" for k in range(j)}, j: letter}))
    return out


def majorana_residual(u: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    """max_j ‖U c_j U† − Σ_k R_jk c_k‖ with R_jk = tr(c_k U c_j U†)/2^n, and R."""
    cs = majoranas(n)
    r = np.zeros((2 * n, 2 * n))
    worst = 0.0
    for j, c in enumerate(cs):
        m = u @ c @ u.conj().T
        coeffs = np.array([np.trace(ck @ m) / 2**n for ck in cs])
        assert np.abs(coeffs.imag).max() < SYM
        r[j] = coeffs.real
        worst = max(worst, np.linalg.norm(m - sum(a * ck for a, ck in zip(coeffs, cs))))
    return worst, r


@pytest.mark.parametrize("n", [3, 4])
def test_matchgate_circuit_rotates_majoranas_among_themselves(n):
    circuit = matchgate(n, 2)
    assert circuit.n_params == 2 * (2 * n - 1)
    u = dense_unitary(circuit, random_theta(circuit, 1, seed=n)[0])
    residual, r = majorana_residual(u, n)
    assert residual < ATOL
    np.testing.assert_allclose(r @ r.T, np.eye(2 * n), rtol=0, atol=ATOL)  # R ∈ SO(2n)
    assert np.abs(r - np.eye(2 * n)).max() > 0.1  # and it does rotate them


def test_majorana_check_fails_for_a_circuit_that_is_not_free_fermionic():
    circuit = build("hea", 4, 2)
    residual, _ = majorana_residual(dense_unitary(circuit, random_theta(circuit, 1)[0]), 4)
    assert residual > 0.1


# --- permutation equivariance -------------------------------------------------------------------


def swap(n: int, a: int, b: int) -> np.ndarray:
    return dense_unitary(Circuit(n, (Op("SWAP", (a, b)),), 0), [])


@pytest.mark.parametrize("n", [3, 4])
def test_equivariant_circuit_commutes_with_every_swap(n):
    circuit = equivariant(n, 2)
    assert circuit.n_params == 6
    u = dense_unitary(circuit, random_theta(circuit, 1, seed=n)[0])
    for a, b in itertools.combinations(range(n), 2):
        s = swap(n, a, b)
        np.testing.assert_allclose(u @ s, s @ u, rtol=0, atol=SYM, err_msg=f"SWAP({a}, {b})")
    # the check has teeth: the matchgate circuit (a chain) does not commute with SWAP(0, 2)
    other = matchgate(n, 1)
    v = dense_unitary(other, random_theta(other, 1)[0])
    assert np.abs(v @ swap(n, 0, 2) - swap(n, 0, 2) @ v).max() > 0.1


def test_equivariant_circuit_is_the_product_of_generator_exponentials():
    n = 4
    circuit = equivariant(n, 1)
    theta = random_theta(circuit, 1, seed=4)[0]
    gx = sum(pauli(n, {j: "X"}) for j in range(n))
    gy = sum(pauli(n, {j: "Y"}) for j in range(n))
    gzz = sum(pauli(n, {i: "Z", j: "Z"}) for i, j in itertools.combinations(range(n), 2))
    expected = expm(-0.5j * theta[2] * gzz) @ expm(-0.5j * theta[1] * gy) @ expm(-0.5j * theta[0] * gx)
    np.testing.assert_allclose(dense_unitary(circuit, theta), expected, rtol=0, atol=SYM)


# --- sizes the families refuse --------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: qcnn(6, 1), r"qcnn: n_qubits must be a power of two >= 2 .* got 6"),
        (lambda: qcnn(1, 1), r"qcnn: n_qubits must be a power of two >= 2 .* got 1"),
        (lambda: ttn(12, 1), r"ttn: n_qubits must be a power of two >= 2 .* got 12"),
        (lambda: qcnn(4, 0), r"qcnn: depth must be >= 1, got 0"),
        (lambda: qcnn(4, 2, 1), r"qcnn: identity_block=1 is not available for a tree-shaped circuit"),
        (lambda: ttn(4, 2, 1), r"ttn: identity_block=1 is not available"),
        (lambda: hva_tfim(1, 1), r"hva_tfim: needs at least 2 qubits, got n_qubits=1"),
        (lambda: hva_xxz(2, 1), r"hva_xxz: needs at least 4 qubits, got n_qubits=2"),
        (lambda: hva_xxz(5, 1), r"hva_xxz: needs an even number of qubits .* got 5"),
        (lambda: qaoa_ring(1, 1), r"qaoa_ring: needs at least 2 qubits"),
        (lambda: matchgate(4, 3, 1), r"matchgate: identity_block=1 needs a depth divisible by 2, got depth 3"),
        (lambda: equivariant(1, 1), r"equivariant: needs at least 2 qubits"),
    ],
)
def test_bad_sizes_are_refused_with_the_family_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
