"""qiskit-aer backend: one bound ``QuantumCircuit`` per sample and per parameter shift.

A reference for the torch engine, and the road to qiskit's noise models and hardware.  Values
are exact: Aer's save instructions read ⟨Pauli sum⟩ and p(0…0) from the simulated state, no
shots are drawn.  Gradients use the parameter-shift rule, ±π/2 on each gate of a slot in turn,
summed.  Our wire w is qiskit qubit w; qiskit's little-endian labels are never written by hand,
``SparsePauliOp.from_sparse_list`` places each letter on its qubit, and p(0…0) does not
depend on the bit order.
"""

from __future__ import annotations

import math

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator

from qnnscope.backends.base import BatchBackend
from qnnscope.circuits.description import Circuit
from qnnscope.costs import Observable

METHODS = ("statevector", "density_matrix", "matrix_product_state")
"""Aer simulation methods that give exact expectation values for these circuits."""
PRECISION = {"complex128": "double", "complex64": "single"}
"""Aer's ``precision`` option for each engine dtype."""
_ROTATIONS = {"RX": "rx", "RY": "ry", "RZ": "rz"}
_AXES = ("rx", "ry", "rz")
_FIXED = {"H": "h", "X": "x", "Y": "y", "Z": "z", "S": "s", "SDG": "sdg", "CZ": "cz", "CNOT": "cx"}
BASIS_GATES = tuple(sorted(set(_ROTATIONS.values()) | set(_FIXED.values())))
"""The qiskit gates :func:`to_qiskit` emits."""


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
        shifts = [(k, g) for k, p in enumerate(params) for g in circuit.param_gates(p)]
        pauli = _pauli_op(observable)
        batch = []
        for row, choice_row in zip(theta, choices):
            angles = op_angles(circuit, row)
            batch.append(_build(circuit, angles, choice_row, pauli))
            for _, gate in shifts:
                for sign in (1, -1):
                    shifted = angles.copy()
                    shifted[gate] += sign * math.pi / 2
                    batch.append(_build(circuit, shifted, choice_row, pauli))
        values = self._run(batch, observable, dtype).reshape(len(theta), 1 + 2 * len(shifts))
        if not params:
            return values[:, 0], None
        grads = np.zeros((len(theta), len(params)))
        for j, (k, _) in enumerate(shifts):
            grads[:, k] += (values[:, 1 + 2 * j] - values[:, 2 + 2 * j]) / 2
        return values[:, 0], grads

    def _run(self, batch: list[QuantumCircuit], observable: Observable, dtype: str) -> np.ndarray:
        """⟨O⟩ of every circuit, simulated in one ``AerSimulator.run`` call."""
        simulator = AerSimulator(method=self.method, precision=PRECISION[dtype], noise_model=self.noise_model)
        result = simulator.run(batch).result()
        return np.array([_value(result.data(i), observable) for i in range(len(batch))])


def op_angles(circuit: Circuit, row: np.ndarray) -> np.ndarray:
    """The angle of every op for one sample (0 for parameter-free gates)."""
    return np.array(
        [
            row[op.param] if op.is_trainable else op.angle if op.is_rotation else 0.0
            for op in circuit.ops
        ]
    )


def to_qiskit(circuit: Circuit, angles, choice_row) -> QuantumCircuit:
    """The qiskit circuit of ``circuit`` with one angle per op (:func:`op_angles`; qiskit
    ``Parameter`` objects give a parameterised circuit) and the sample's Pauli choices."""
    qc = QuantumCircuit(circuit.n_qubits)
    for op, angle in zip(circuit.ops, angles):
        if op.gate == "RP":
            getattr(qc, _AXES[choice_row[op.choice]])(angle, op.wires[0])
        elif op.is_rotation:
            getattr(qc, _ROTATIONS[op.gate])(angle, op.wires[0])
        else:
            getattr(qc, _FIXED[op.gate])(*op.wires)
    return qc


def _build(
    circuit: Circuit, angles: np.ndarray, choice_row: np.ndarray, pauli: SparsePauliOp | None
) -> QuantumCircuit:
    """One bound qiskit circuit that saves p(0…0) and, if any, ⟨Pauli sum⟩."""
    qc = to_qiskit(circuit, angles, choice_row)
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

