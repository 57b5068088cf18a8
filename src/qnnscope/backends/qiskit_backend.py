"""qiskit-aer backend: one bound ``QuantumCircuit`` per sample and per parameter shift; the
converter to qiskit circuits (also measured, parameterised copies for samplers) and the engine's
noise channels as an Aer noise model.

A reference for the torch engine, and the road to qiskit's noise models and hardware.  Values
are exact: Aer's save instructions read ⟨Pauli sum⟩ and p(0…0) from the simulated state, no
shots are drawn.  Gradients use the parameter-shift rule, ±π/2 on each gate of a slot in turn,
summed.  Our wire w is qiskit qubit w; qiskit's little-endian labels are never written by hand,
``SparsePauliOp.from_sparse_list`` places each letter on its qubit, and p(0…0) does not
depend on the bit order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp
from qiskit.synthesis import OneQubitEulerDecomposer
from qiskit_aer import AerSimulator

from qnnscope.backends.base import BatchBackend
from qnnscope.circuits.description import Circuit, matrix
from qnnscope.circuits.lowering import to_primitives
from qnnscope.costs import Observable
from qnnscope.sim.noise import NOISELESS, NoiseModel

METHODS = ("statevector", "density_matrix", "matrix_product_state")
"""Aer simulation methods that give exact expectation values for these circuits."""
PRECISION = {"complex128": "double", "complex64": "single"}
"""Aer's ``precision`` option for each engine dtype."""
_ROTATIONS = {"RX": "rx", "RY": "ry", "RZ": "rz"}
_AXES = ("rx", "ry", "rz")
_FIXED = {"H": "h", "X": "x", "Y": "y", "Z": "z", "S": "s", "SDG": "sdg", "T": "t", "TDG": "tdg",
          "CZ": "cz", "CNOT": "cx"}
BASIS_GATES = tuple(sorted(set(_ROTATIONS.values()) | set(_FIXED.values()) | {"u"}))
"""The qiskit gates :func:`to_qiskit` emits for a circuit of primitive gates (a fixed one-qubit
unitary becomes ``u``): the gates noise channels follow, as in the engine."""
_NATIVE = {"RXX": "rxx", "RYY": "ryy", "RZZ": "rzz", "RZX": "rzx", "CRX": "crx", "CRY": "cry", "CRZ": "crz",
           "CY": "cy", "SWAP": "swap", "ISWAP": "iswap"}
"""qiskit's own gates for the rest of the gate set (qubit w = wire w, controls first)."""


class AerBackend(BatchBackend):
    """Evaluates circuits on qiskit-aer's ``AerSimulator``, all circuits of a call in one run."""

    name = "qiskit-aer"
    device = "cpu"

    def __init__(self, method: str = "statevector", noise_model=None) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown Aer method {method!r}; allowed: {', '.join(METHODS)}")
        self.method = method
        self.noise_model = noise_model

    def _evaluate(self, circuit: Circuit, observable: Observable, theta, choices, params: list[int], dtype: str):
        """Costs ``(S,)`` and parameter-shift gradients ``(S, len(params))`` (None if no params)."""
        if params or self.noise_model is not None:
            # shift rules and noise channels act on the primitive gates, as in the engine
            circuit = to_primitives(circuit)
        shifts = [(k, g, circuit.ops[g].scale) for k, p in enumerate(params) for g in circuit.param_gates(p)]
        pauli = _pauli_op(observable)
        batch = []
        for row, choice_row in zip(theta, choices):
            angles = op_angles(circuit, row)
            batch.append(_build(circuit, angles, choice_row, pauli))
            for _, gate, _ in shifts:
                for sign in (1, -1):
                    shifted = angles.copy()
                    shifted[gate] += sign * math.pi / 2
                    batch.append(_build(circuit, shifted, choice_row, pauli))
        values = self._run(batch, observable, dtype).reshape(len(theta), 1 + 2 * len(shifts))
        if not params:
            return values[:, 0], None
        grads = np.zeros((len(theta), len(params)))
        for j, (k, _, a) in enumerate(shifts):  # chain rule through a·θ + b
            grads[:, k] += a * (values[:, 1 + 2 * j] - values[:, 2 + 2 * j]) / 2
        return values[:, 0], grads

    def _run(self, batch: list[QuantumCircuit], observable: Observable, dtype: str) -> np.ndarray:
        """⟨O⟩ of every circuit, simulated in one ``AerSimulator.run`` call."""
        simulator = AerSimulator(method=self.method, precision=PRECISION[dtype], noise_model=self.noise_model)
        result = simulator.run(batch).result()
        return np.array([_value(result.data(i), observable) for i in range(len(batch))])


def op_angles(circuit: Circuit, row: np.ndarray) -> np.ndarray:
    """The angle of every op for one sample (0 for parameter-free gates)."""
    return np.array([op.angle_of(row) for op in circuit.ops])


def to_qiskit(circuit: Circuit, angles, choice_row) -> QuantumCircuit:
    """The qiskit circuit of ``circuit`` with one angle per op (:func:`op_angles`; qiskit
    ``Parameter`` objects give a parameterised circuit) and the sample's Pauli choices."""
    qc = QuantumCircuit(circuit.n_qubits)
    for op, angle in zip(circuit.ops, angles):
        if op.gate == "RP":
            getattr(qc, _AXES[choice_row[op.choice]])(angle, op.wires[0])
        elif op.gate in _ROTATIONS:
            getattr(qc, _ROTATIONS[op.gate])(angle, op.wires[0])
        elif op.gate in _FIXED:
            getattr(qc, _FIXED[op.gate])(*op.wires)
        elif op.gate in _NATIVE:
            getattr(qc, _NATIVE[op.gate])(*(() if not op.is_rotation else (angle,)), *op.wires)
        elif op.gate == "PAULIROT":
            _pauli_rotation(qc, op, angle)
        elif len(op.wires) == 1:  # a fixed one-qubit unitary, as qiskit's standard U gate
            qc.u(*OneQubitEulerDecomposer("U").angles(matrix(op)), op.wires[0])
        else:  # qiskit's unitary: its first qubit is the least significant, our last wire
            qc.unitary(matrix(op), list(reversed(op.wires)))
    return qc


def _pauli_rotation(qc: QuantumCircuit, op, angle) -> None:
    """exp(−iθP/2) as qiskit's ``PauliEvolutionGate`` (exp(−itP), t = θ/2), unrolled into
    standard gates so that Aer and samplers accept it."""
    from qiskit.circuit.library import PauliEvolutionGate

    word = [(letter, k) for k, letter in enumerate(op.pauli) if letter != "I"]
    pauli = SparsePauliOp.from_sparse_list([("".join(p for p, _ in word), [k for _, k in word], 1.0)], len(op.wires))
    gate = PauliEvolutionGate(pauli, time=angle / 2)
    qc.compose(gate.definition, qubits=list(op.wires), inplace=True)


def _build(
    circuit: Circuit, angles: np.ndarray, choice_row: np.ndarray, pauli: SparsePauliOp | None
) -> QuantumCircuit:
    """One bound qiskit circuit that saves p(0…0) and, if any, ⟨Pauli sum⟩."""
    qc = to_qiskit(circuit, angles, choice_row)
    if "iswap" in qc.count_ops():  # not an Aer instruction: qiskit's own definition of it
        qc = qc.decompose(gates_to_decompose=["iswap"])
    qc.save_amplitudes_squared([0], label="p0")
    if pauli is not None:
        qc.save_expectation_value(pauli, range(circuit.n_qubits), label="pauli")
    return qc


def _pauli_op(observable: Observable) -> SparsePauliOp | None:
    """The Pauli-string part of the observable on qubits = wires (None if it has none)."""
    if not observable.terms:
        return None
    return SparsePauliOp.from_sparse_list(
        [
            ("".join(letter for _, letter in string), [w for w, _ in string], coeff)
            for coeff, string in observable.terms
        ],
        num_qubits=observable.n_qubits,
    )


def _value(data: dict, observable: Observable) -> float:
    """⟨O⟩ from one circuit's saved data."""
    value = observable.constant + observable.projector_coeff * float(data["p0"][0])
    return value + float(np.real(data["pauli"])) if "pauli" in data else value


def measured_pubs(circuit: Circuit, settings, theta, choices, params) -> Iterator[tuple[int, object, np.ndarray, Callable]]:
    """Every draw × ±π/2-shifted copy as parameterised qiskit circuits: per setting and distinct
    Pauli-choice row, (setting index, the circuit measured on every wire (classical bit j = wire
    j), its rows (copies-major, as :func:`qnnscope.sim.shots.probabilities`), ``values(qc)``: the rows' angles as
    columns in ``qc.parameters`` order, for this circuit or a transpiled copy of it)."""
    from qnnscope.sim.shots import setting_circuit, shifted_copies

    theta = np.asarray(theta, dtype=np.float64)
    S = theta.shape[0]
    choices = np.zeros((S, 0), dtype=np.int64) if choices is None else np.asarray(choices).reshape(S, -1)
    gates, copies = shifted_copies(circuit, params)
    circuit = to_primitives(circuit)  # op indices of ``gates``
    trainable = [i for i, op in enumerate(circuit.ops) if op.is_trainable]
    scale = np.array([circuit.ops[i].scale for i in trainable])
    offset = np.array([circuit.ops[i].offset for i in trainable])
    angles = np.tile(theta[:, [circuit.ops[i].param for i in trainable]] * scale + offset, (copies, 1, 1))
    for k, (_, g, _) in enumerate(gates):
        angles[1 + 2 * k, :, trainable.index(g)] += math.pi / 2
        angles[2 + 2 * k, :, trainable.index(g)] -= math.pi / 2
    rows_of = np.arange(copies * S).reshape(copies, S)
    if choices.size:
        unique, group = np.unique(choices, axis=0, return_inverse=True)
    else:
        unique, group = choices[:1], np.zeros(S, dtype=np.int64)
    vec = ParameterVector("a", len(circuit.ops))  # vec[j] drives op j
    for i, setting in enumerate(settings):
        measured = setting_circuit(circuit, setting)
        symbols = [vec[j] if op.is_trainable else op.angle_of(()) for j, op in enumerate(measured.ops)]
        for u, row in enumerate(unique):
            qc = to_qiskit(measured, symbols, row)
            qc.measure_all()
            mine = np.flatnonzero(group.reshape(-1) == u)

            def values(target, mine=mine):
                order = [trainable.index(p.index) for p in target.parameters]
                return angles[:, mine][..., order].reshape(-1, len(order))

            yield i, qc, rows_of[:, mine].reshape(-1), values


def bit_reversal(n: int) -> np.ndarray:
    """Map qiskit's outcome integer (qubit k = bit k) to ours (wire 0 most significant)."""
    idx = np.arange(2**n)
    return sum(((idx >> k) & 1) << (n - 1 - k) for k in range(n))


def aer_noise_model(noise: NoiseModel, basis_gates: Sequence[str] | None = None):
    """The same channels as a ``qiskit_aer.noise.NoiseModel``: after every one-qubit gate of
    ``basis_gates`` the depolarising error then amplitude damping; after every two-qubit gate the
    two-qubit depolarising error then amplitude damping on each qubit.  The default basis is the
    gates qnnscope's qiskit converter emits."""
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit_aer.noise import NoiseModel as AerNoiseModel
    from qiskit_aer.noise import amplitude_damping_error, depolarizing_error

    if noise.device:
        raise ValueError(f"noise device:{noise.device} is a device's calibrated model: "
                         "qnnscope.backends.device_noise.noise_model builds it")
    if basis_gates is None:
        basis_gates = list(BASIS_GATES)
    standard = get_standard_gate_name_mapping()
    arity = {}
    for g in basis_gates:
        if g not in standard or standard[g].num_qubits not in (1, 2):
            raise ValueError(f"basis gate {g!r} is not a standard one- or two-qubit qiskit gate")
        arity[g] = standard[g].num_qubits
    damp = amplitude_damping_error(noise.amplitude_damping) if noise.amplitude_damping else None
    chains = {1: [], 2: []}
    if noise.depolarizing_1q:
        chains[1].append(depolarizing_error(noise.depolarizing_1q, 1))
    if noise.depolarizing_2q:
        chains[2].append(depolarizing_error(noise.depolarizing_2q, 2))
    if damp is not None:
        chains[1].append(damp)
        chains[2].append(damp.tensor(damp))
    model = AerNoiseModel(basis_gates=list(basis_gates))
    for k, chain in chains.items():
        gates = [g for g in basis_gates if arity[g] == k]
        if chain and gates:
            error = chain[0] if len(chain) == 1 else chain[0].compose(chain[1])
            model.add_all_qubit_quantum_error(error, gates)
    return model


def aer_expectation(
    circuit: Circuit, observable: Observable, theta, choices=None, noise: NoiseModel = NOISELESS, dtype="complex128"
) -> np.ndarray:
    """⟨O⟩ per sample from qiskit-aer's density-matrix simulator under :func:`aer_noise_model`,
    exact (no shots): the reference the engine's channels are tested against."""
    theta = np.asarray(theta, dtype=float)
    choices = np.zeros((len(theta), 0), dtype=int) if choices is None else np.asarray(choices)
    backend = AerBackend("density_matrix", noise_model=aer_noise_model(noise))
    return backend.evaluate(circuit, observable, theta, choices, [], dtype)[0]
