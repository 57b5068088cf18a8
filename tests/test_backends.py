"""The engine (every gradient method), PennyLane (default.qubit, lightning.qubit) and qiskit-aer
agree with each other and with a dense numpy oracle to 1e-10 in complex128, on every ansatz and
cost."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

from qnnscope.backends.pennylane_backend import PennyLaneBackend
from qnnscope.backends.qiskit_backend import AerBackend
from qnnscope.backends.torch_backend import TorchBackend
from qnnscope.circuits import Circuit, Op, build
from qnnscope.circuits.ansatze import LAYERED
from qnnscope.costs import Observable, make_cost

ATOL = 1e-10
WEIGHTED = "0.5*Z0Z1 - 0.3*X1 + 0.2*Y0Z2"
COSTS = {"global": 1, "local": 1, "Z0Z1": 2, WEIGHTED: 3}
"""Cost specs and the fewest qubits each needs."""


def assert_close(actual, expected, what: str = "", atol: float = ATOL) -> None:
    """Absolute agreement to ``atol`` (values are O(1), so no relative tolerance)."""
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=what)


# --- dense oracle: explicit 2^n x 2^n matrices, wire 0 = most significant bit -------------

I2 = np.eye(2, dtype=complex)
PAULI = {
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
FIXED = {
    "H": np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2),
    "S": np.diag([1, 1j]),
    "SDG": np.diag([1, -1j]),
    **PAULI,
}
P0, P1 = np.diag([1.0, 0.0]).astype(complex), np.diag([0.0, 1.0]).astype(complex)


def rotation(axis: str, angle: float) -> np.ndarray:
    """R_P(θ) = cos(θ/2) I − i sin(θ/2) P, written out."""
    return np.cos(angle / 2) * I2 - 1j * np.sin(angle / 2) * PAULI[axis]


def on_wires(n: int, factors: dict[int, np.ndarray]) -> np.ndarray:
    """Kronecker product with ``factors[w]`` on wire w and identity elsewhere, wire 0 first."""
    return reduce(np.kron, [factors.get(w, I2) for w in range(n)])


def gate_matrix(n: int, op, angle: float, axis: str | None) -> np.ndarray:
    """The full matrix of one op of the description."""
    if axis is not None:
        return on_wires(n, {op.wires[0]: rotation(axis, angle)})
    if op.gate in FIXED:
        return on_wires(n, {op.wires[0]: FIXED[op.gate]})
    a, b = op.wires
    target = PAULI["Z"] if op.gate == "CZ" else PAULI["X"]
    return on_wires(n, {a: P0}) + on_wires(n, {a: P1, b: target})


def gate_axis(op, choice_row: np.ndarray) -> str | None:
    """Pauli axis of a rotation (None for fixed gates)."""
    if op.gate == "RP":
        return "XYZ"[choice_row[op.choice]]
    return op.gate[1] if op.is_rotation else None


def oracle_state(circuit: Circuit, row, choice_row, derive: int | None = None) -> np.ndarray:
    """U(θ)|0…0⟩, or its derivative by the angle of gate ``derive`` (dR_P/dθ = −i/2 P R_P)."""
    n = circuit.n_qubits
    psi = np.zeros(2**n, dtype=complex)
    psi[0] = 1
    for index, op in enumerate(circuit.ops):
        angle = row[op.param] if op.is_trainable else op.angle
        axis = gate_axis(op, choice_row)
        psi = gate_matrix(n, op, angle, axis) @ psi
        if index == derive:
            psi = -0.5j * on_wires(n, {op.wires[0]: PAULI[axis]}) @ psi
    return psi


def oracle_observable(observable: Observable) -> np.ndarray:
    """The dense Hermitian matrix of an observable."""
    n = observable.n_qubits
    matrix = observable.constant * np.eye(2**n, dtype=complex)
    matrix[0, 0] += observable.projector_coeff
    for coeff, string in observable.terms:
        matrix += coeff * on_wires(n, {w: PAULI[letter] for w, letter in string})
    return matrix


def oracle(circuit, observable, theta, choices, params):
    """Exact costs and gradients: ∂⟨O⟩/∂θ_p = Σ_gates 2 Re⟨ψ|O|∂ψ⟩."""
    matrix = oracle_observable(observable)
    costs, grads = [], []
    for row, choice_row in zip(theta, choices):
        psi = oracle_state(circuit, row, choice_row)
        costs.append(np.real(psi.conj() @ matrix @ psi))
        grads.append(
            [
                sum(
                    2 * np.real(psi.conj() @ matrix @ oracle_state(circuit, row, choice_row, g))
                    for g in circuit.param_gates(p)
                )
                for p in params
            ]
        )
    return np.array(costs), np.array(grads)


# --- cases --------------------------------------------------------------------------------

BACKENDS = {
    "torch": TorchBackend(),
    "torch-adjoint": TorchBackend(method="adjoint"),
    "torch-param-shift": TorchBackend(method="param-shift"),
    "torch-autograd": TorchBackend(method="autograd"),
    "pennylane": PennyLaneBackend("default.qubit"),
    "lightning": PennyLaneBackend("lightning.qubit"),
    "qiskit-aer": AerBackend(),
}


def _cases() -> list[tuple[str, int, int, int, str]]:
    """Every ansatz on 1..6 qubits (depth cycling 1..3) with every cost the size allows,
    plus identity-block initialisation."""
    cases = [
        (name, n, 1 + n % 3, 0, cost)
        for name in LAYERED
        for n in range(1, 7)
        for cost, needs in COSTS.items()
        if n >= needs
    ]
    cases += [(name, 3, 2, 1, "Z0Z1") for name in LAYERED]
    return cases


def _instance(name: str, n: int, depth: int, identity_block: int, cost: str, seed: int):
    """A circuit, its observable, random θ ∈ [0, 2π), random Pauli choices, and slots to derive."""
    circuit = build(name, n, depth, identity_block)
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 2 * np.pi, (2, circuit.n_params))
    choices = rng.integers(0, 3, (2, circuit.n_choices))
    params = sorted({0, circuit.n_params // 2, circuit.n_params - 1})
    return circuit, make_cost(cost, n), theta, choices, params


CASES = _cases()


@pytest.mark.parametrize(
    "seed, case", list(enumerate(CASES)), ids=[f"{a}-n{n}-d{d}-ib{i}-{c}" for a, n, d, i, c in CASES]
)
def test_backends_agree_with_each_other_and_the_oracle(seed, case):
    circuit, observable, theta, choices, params = _instance(*case, seed=seed)
    expected_costs, expected_grads = oracle(circuit, observable, theta, choices, params)
    results = {
        name: backend.evaluate(circuit, observable, theta, choices, params, "complex128")
        for name, backend in BACKENDS.items()
    }
    reference_costs, reference_grads = results["pennylane"]
    for name, (costs, grads) in results.items():
        assert costs.dtype == grads.dtype == np.float64
        assert grads.shape == (len(theta), len(params))
        assert_close(costs, expected_costs, f"{name} costs vs oracle")
        assert_close(grads, expected_grads, f"{name} grads vs oracle")
        assert_close(costs, reference_costs, f"{name} costs vs default.qubit")
        assert_close(grads, reference_grads, f"{name} grads vs default.qubit")


EVERY_GATE = Circuit(
    3,
    (
        *(Op("H", (w,)) for w in range(3)),
        Op("S", (1,)),
        Op("SDG", (2,)),
        Op("RX", (0,), param=0),
        Op("RP", (1,), param=1, choice=0),
        Op("RY", (2,), angle=0.3),
        Op("CNOT", (2, 0)),
        Op("CZ", (1, 2)),
        Op("X", (0,)),
        Op("Y", (1,)),
        Op("Z", (2,)),
        Op("H", (1,)),
        Op("RZ", (1,), param=2),
        Op("RP", (2,), param=0, choice=1),
        Op("CNOT", (0, 1)),
        Op("RY", (0,), param=2),
    ),
    n_params=3,
    n_choices=2,
    name="every_gate",
)
"""Every gate kind, fixed and trainable angles, and slots 0 and 2 each shared by two gates."""


@pytest.mark.parametrize("cost", ["global", WEIGHTED])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_gate_and_shared_slots_match_the_oracle(backend, cost):
    rng = np.random.default_rng(5)
    theta = rng.uniform(0, 2 * np.pi, (4, 3))
    choices = rng.integers(0, 3, (4, 2))
    observable = make_cost(cost, 3)
    expected_costs, expected_grads = oracle(EVERY_GATE, observable, theta, choices, [0, 1, 2])
    costs, grads = BACKENDS[backend].evaluate(EVERY_GATE, observable, theta, choices, [0, 1, 2], "complex128")
    assert_close(costs, expected_costs)
    assert_close(grads, expected_grads)


# --- hand-computed values -----------------------------------------------------------------

ANGLES = np.array([[0.0], [0.7], [np.pi / 2], [2.5], [5.9]])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_rx_on_one_qubit_gives_cos_for_z_and_sin_squared_half_for_global(backend):
    circuit = build("rx_product", 1, 1)
    no_choices = np.zeros((len(ANGLES), 0), dtype=int)
    t = ANGLES[:, 0]
    z, dz = BACKENDS[backend].evaluate(circuit, make_cost("Z0", 1), ANGLES, no_choices, [0], "complex128")
    g, dg = BACKENDS[backend].evaluate(circuit, make_cost("global", 1), ANGLES, no_choices, [0], "complex128")
    assert_close(z, np.cos(t))
    assert_close(dz[:, 0], -np.sin(t))
    assert_close(g, np.sin(t / 2) ** 2)
    assert_close(dg[:, 0], np.sin(t) / 2)


def test_oracle_gives_the_hand_computed_rx_values():
    circuit = build("rx_product", 1, 1)
    costs, grads = oracle(circuit, make_cost("global", 1), ANGLES, np.zeros((5, 0), int), [0])
    assert_close(costs, np.sin(ANGLES[:, 0] / 2) ** 2)
    assert_close(grads[:, 0], np.sin(ANGLES[:, 0]) / 2)


# --- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend",
    [
        PennyLaneBackend("default.qubit", diff_method="adjoint"),
        PennyLaneBackend("default.qubit", diff_method="parameter-shift"),
        PennyLaneBackend("lightning.qubit", diff_method="parameter-shift"),
        AerBackend("density_matrix"),
        AerBackend("matrix_product_state"),
    ],
    ids=lambda b: f"{b.name}-{getattr(b, 'diff_method', getattr(b, 'method', ''))}",
)
def test_other_methods_agree_with_the_oracle(backend):
    circuit, observable, theta, choices, params = _instance("mcclean", 3, 2, 0, WEIGHTED, 7)
    expected_costs, expected_grads = oracle(circuit, observable, theta, choices, params)
    costs, grads = backend.evaluate(circuit, observable, theta, choices, params, "complex128")
    assert_close(costs, expected_costs)
    assert_close(grads, expected_grads)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_complex64_is_close_and_no_params_gives_no_gradients(backend):
    circuit, observable, theta, choices, _ = _instance("hea", 4, 2, 0, "local", 11)
    expected_costs, _ = oracle(circuit, observable, theta, choices, [])
    costs, grads = BACKENDS[backend].evaluate(circuit, observable, theta, choices, [], "complex64")
    assert grads is None
    assert_close(costs, expected_costs, atol=1e-5)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_an_empty_batch_gives_empty_arrays(backend):
    circuit = build("hea", 2, 1)
    costs, grads = BACKENDS[backend].evaluate(
        circuit, make_cost("local", 2), np.zeros((0, circuit.n_params)), np.zeros((0, 0), int), [0]
    )
    assert costs.shape == (0,) and grads.shape == (0, 1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PennyLaneBackend("default.mixed"), "unknown PennyLane device 'default.mixed'"),
        (lambda: PennyLaneBackend("lightning.qubit", "backprop"), "diff_method 'backprop'"),
        (lambda: AerBackend("stabilizer"), "unknown Aer method 'stabilizer'"),
        (lambda: TorchBackend(method="finite-difference"), "unknown gradient method 'finite-difference'"),
    ],
)
def test_bad_options_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize(
    "change, message",
    [
        ({"dtype": "float32"}, "unknown dtype 'float32'"),
        ({"params": [99]}, r"params \[99\] are not trainable slots"),
        ({"theta": np.zeros((2, 5))}, r"theta must have shape \(S, 6\)"),
        ({"choices": np.full((2, 6), 3)}, "choices must be 0, 1 or 2"),
        ({"observable": make_cost("local", 2)}, "observable acts on 2 qubits"),
    ],
)
def test_bad_inputs_are_named(backend, change, message):
    circuit, observable, theta, choices, params = _instance("mcclean", 3, 2, 0, "local", 0)
    args = {"observable": observable, "theta": theta, "choices": choices, "params": params}
    args.update(change)
    with pytest.raises(ValueError, match=message):
        BACKENDS[backend].evaluate(circuit, **args)
