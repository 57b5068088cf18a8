"""Ansatz builders produce the circuits of the papers they cite, gate for gate."""

import math
from itertools import product

import numpy as np
import pennylane as qml
import pytest

from qnnscope.circuits import Op, build
from qnnscope.circuits.ansatze import LAYERED
from qnnscope.sampling import draw
from qnnscope.sim.engine import states

# States are compared in complex128 after at most ~50 gates: accumulated rounding is ~1e-15
# per amplitude.  1e-12 (1e-10 against PennyLane, whose gate matrices are built separately)
# leaves orders of magnitude of headroom while any structural error changes amplitudes by O(0.1).
ATOL_STATE = 1e-12
ATOL_PENNYLANE = 1e-10


def rotations(circuit):
    return [op for op in circuit.ops if op.is_rotation]


# --- McClean et al. 2018 ---------------------------------------------------------------------


@pytest.mark.parametrize("n, depth", [(1, 2), (3, 2), (4, 3)])
def test_mcclean_structure(n, depth):
    c = build("mcclean", n, depth)
    expected = [Op("RY", (j,), angle=math.pi / 4) for j in range(n)]
    for layer in range(depth):
        expected += [Op("RP", (j,), param=layer * n + j, choice=layer * n + j) for j in range(n)]
        expected += [Op("CZ", (j, j + 1)) for j in range(n - 1)]
    assert list(c.ops) == expected
    assert c.n_params == c.n_choices == n * depth
    assert c.param_layer == tuple(layer for layer in range(depth) for _ in range(n))
    assert c.ties == ()
    first, last = c.ops[c.param_gates(0)[0]], c.ops[c.param_gates(c.n_params - 1)[0]]
    assert first.wires == (0,) and c.param_layer[0] == 0
    assert last.wires == (n - 1,) and c.param_layer[-1] == depth - 1


def test_mcclean_rp_axis_follows_choices():
    # One layer on one qubit: RY(π/4) then RP(θ) with P from choices (0=X, 1=Y, 2=Z).  Compare
    # with the explicit products exp(−iθP/2) RY(π/4)|0⟩.
    c = build("mcclean", 1, 1)
    theta = np.full((3, 1), 0.7)
    choices = np.array([[0], [1], [2]])
    got = states(c, theta, choices, dtype="complex128").numpy()
    pauli = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]
    start = np.array([math.cos(math.pi / 8), math.sin(math.pi / 8)])
    for row, p in enumerate(pauli):
        rp = math.cos(0.35) * np.eye(2) - 1j * math.sin(0.35) * p
        np.testing.assert_allclose(got[row], rp @ start, rtol=0, atol=ATOL_STATE)


# --- Cerezo et al.'s alternating layered ansatz = PennyLane's SimplifiedTwoDesign ------------


@pytest.mark.parametrize("n", [4, 5])
def test_alternating_matches_pennylane_simplified_two_design(n):
    depth = 2
    c = build("alternating", n, depth)
    assert c.n_params == n + depth * 2 * (n - 1)
    rng = np.random.default_rng(100 + n)
    theta = rng.uniform(0, 2 * np.pi, size=(3, c.n_params))
    ours = states(c, theta, np.zeros((3, 0), dtype=np.int64), dtype="complex128").numpy()

    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev)
    def reference(initial, weights):
        qml.SimplifiedTwoDesign(initial_layer_weights=initial, weights=weights, wires=range(n))
        return qml.state()

    for row in range(len(theta)):
        # Our slots: initial RY on wires 0..n−1, then per layer the even pairs, then the odd
        # pairs, two RY slots per pair.  PennyLane's weights[layer, pair, k] use the same pair
        # order (odd pairs start at index n // 2 = number of even pairs), so a reshape maps them.
        initial = theta[row, :n]
        weights = theta[row, n:].reshape(depth, n - 1, 2)
        np.testing.assert_allclose(ours[row], reference(initial, weights), rtol=0, atol=ATOL_PENNYLANE)


def test_alternating_layer_order():
    c = build("alternating", 4, 1)
    layer = list(c.ops[4:])
    assert [(op.gate, op.wires) for op in layer] == [
        ("CZ", (0, 1)), ("RY", (0,)), ("RY", (1,)),
        ("CZ", (2, 3)), ("RY", (2,)), ("RY", (3,)),
        ("CZ", (1, 2)), ("RY", (1,)), ("RY", (2,)),
    ]
    assert [op.param for op in layer if op.is_rotation] == list(range(4, 10))
    assert c.param_layer == (-1, -1, -1, -1) + (0,) * 6


# --- hardware-efficient ansatz and the RX product ---------------------------------------------


@pytest.mark.parametrize("n, depth", [(1, 1), (3, 2)])
def test_hea_structure(n, depth):
    c = build("hea", n, depth)
    expected = []
    for layer in range(depth):
        base = layer * 2 * n
        for j in range(n):
            expected += [Op("RY", (j,), param=base + 2 * j), Op("RZ", (j,), param=base + 2 * j + 1)]
        expected += [Op("CNOT", (j, j + 1)) for j in range(n - 1)]
    assert list(c.ops) == expected
    assert c.n_params == 2 * n * depth and c.n_choices == 0


def test_hea_state_on_two_qubits():
    # RY(a)|0⟩ ⊗ RY(b)|0⟩ with RZ(0) then CNOT 0→1: (ca cb, ca sb, sa sb, sa cb) in |q0 q1⟩ order.
    c = build("hea", 2, 1)
    a, b = 0.9, 2.1
    theta = np.array([[a, 0.0, b, 0.0]])
    got = states(c, theta, np.zeros((1, 0), dtype=np.int64), dtype="complex128").numpy()[0]
    ca, sa, cb, sb = math.cos(a / 2), math.sin(a / 2), math.cos(b / 2), math.sin(b / 2)
    np.testing.assert_allclose(got, [ca * cb, ca * sb, sa * sb, sa * cb], rtol=0, atol=ATOL_STATE)


@pytest.mark.parametrize("depth", [1, 3])
def test_rx_product_repeats_layers(depth):
    n = 3
    c = build("rx_product", n, depth)
    assert list(c.ops) == [Op("RX", (j,), param=layer * n + j) for layer in range(depth) for j in range(n)]
    assert c.param_layer == tuple(layer for layer in range(depth) for _ in range(n))
    # Consecutive RX on a wire add their angles: the state is ⊗_j RX(Σ_layers θ)|0⟩.
    theta = np.random.default_rng(5).uniform(0, 2 * np.pi, size=(4, c.n_params))
    total = theta.reshape(4, depth, n).sum(axis=1)
    got = states(c, theta, np.zeros((4, 0), dtype=np.int64), dtype="complex128").numpy()
    for row in range(4):
        single = [np.array([math.cos(t / 2), -1j * math.sin(t / 2)]) for t in total[row]]
        np.testing.assert_allclose(got[row], np.kron(np.kron(single[0], single[1]), single[2]), rtol=0, atol=ATOL_STATE)


# --- identity blocks (Grant et al. 2019) -----------------------------------------------------


def preamble_state(name, n, theta_row):
    """The state of the non-parametric (or, for alternating, the initial RY) preamble alone."""
    if name in ("rx_product", "hea"):
        angles = np.zeros(n)
    elif name == "mcclean":
        angles = np.full(n, math.pi / 4)
    else:
        angles = theta_row[:n]
    amp = np.array([[math.cos(a / 2), math.sin(a / 2)] for a in angles])
    return np.array([np.prod([amp[j, bit] for j, bit in enumerate(bits)]) for bits in product((0, 1), repeat=n)])


@pytest.mark.parametrize("name", LAYERED)
@pytest.mark.parametrize("k, depth", [(1, 2), (2, 4), (1, 4)])
def test_identity_block_init_gives_the_preamble_state(name, k, depth):
    n = 3
    c = build(name, n, depth, identity_block=k)
    theta, choices = draw(c, 4, seed=2024, init="identity_block")
    for dst, src in c.ties:
        np.testing.assert_array_equal(theta[:, dst], -theta[:, src])
    got = states(c, theta, choices, dtype="complex128").numpy()
    for row in range(len(theta)):
        np.testing.assert_allclose(got[row], preamble_state(name, n, theta[row]), rtol=0, atol=ATOL_STATE)
    # The blocks are identities only at the tied init: untied uniform angles move the state.
    free, free_choices = draw(c, 4, seed=2024, init="uniform")
    moved = states(c, free, free_choices, dtype="complex128").numpy()
    distance = [np.abs(moved[r] - preamble_state(name, n, free[r])).max() for r in range(4)]
    assert min(distance) > 1e-3


@pytest.mark.parametrize("name", LAYERED)
def test_identity_block_needs_a_divisible_depth(name):
    with pytest.raises(ValueError, match=r"identity_block=2.*divisible by 4.*depth 6"):
        build(name, 3, 6, identity_block=2)
    with pytest.raises(ValueError, match="identity_block=1"):
        build(name, 3, 3, identity_block=1)


def test_identity_block_mirror_reuses_pauli_choices():
    # mcclean(2, 2, k=1): layer 1 is the adjoint of layer 0, so it has no choice slots of its own.
    c = build("mcclean", 2, 2, identity_block=1)
    assert c.n_params == 4 and c.n_choices == 2
    assert c.ties == ((2, 1), (3, 0))
    mirror = [op for op in c.ops[2:] if op.gate == "RP"][2:]
    assert [(op.wires, op.param, op.choice) for op in mirror] == [((1,), 2, 1), ((0,), 3, 0)]


def test_unknown_ansatz_lists_allowed_names():
    with pytest.raises(ValueError) as info:
        build("nope", 2, 1)
    message = str(info.value)
    assert "'nope'" in message
    for name in ("alternating", "hea", "mcclean", "rx_product"):
        assert name in message


@pytest.mark.parametrize("n, depth", [(0, 1), (2, 0)])
def test_sizes_below_one_are_refused(n, depth):
    with pytest.raises(ValueError, match="must be >= 1"):
        build("mcclean", n, depth)
