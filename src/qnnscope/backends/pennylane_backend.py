"""PennyLane backend: the circuit description compiled to a QNode, differentiated by PennyLane.

A reference for the torch engine, and the door to PennyLane's device plugins.  It loops over
samples in Python; it is meant to be right, not fast.  ``default.qubit`` always simulates in
complex128 (it has no ``c_dtype`` option), so a complex64 request is answered in double
precision there; ``lightning.qubit`` honours both precisions.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pennylane as qml
from pennylane import numpy as pnp

from qnnscope.backends.base import BatchBackend
from qnnscope.circuits.description import Circuit, Op, matrix
from qnnscope.costs import Observable

DIFF_METHODS = {
    "default.qubit": ("backprop", "adjoint", "parameter-shift"),
    "lightning.qubit": ("adjoint", "parameter-shift"),
}
"""Supported devices and the exact differentiation methods allowed on each (first = default)."""
_NAMES = {"default.qubit": "pennylane", "lightning.qubit": "lightning"}
_ROTATIONS = {"RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ}
_AXES = (qml.RX, qml.RY, qml.RZ)
_FIXED = {
    "H": qml.Hadamard,
    "X": qml.PauliX,
    "Y": qml.PauliY,
    "Z": qml.PauliZ,
    "S": qml.S,
    "SDG": qml.adjoint(qml.S),
    "T": qml.T,
    "TDG": qml.adjoint(qml.T),
    "CZ": qml.CZ,
    "CNOT": qml.CNOT,
    "CY": qml.CY,
    "SWAP": qml.SWAP,
    "ISWAP": qml.ISWAP,
}
_PARAMETERISED = {"RXX": qml.IsingXX, "RYY": qml.IsingYY, "RZZ": qml.IsingZZ, "CRX": qml.CRX, "CRY": qml.CRY,
                  "CRZ": qml.CRZ}
_PAULIS = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}


class PennyLaneBackend(BatchBackend):
    """Evaluates circuits on a PennyLane device (``default.qubit`` or ``lightning.qubit``)."""

    device = "cpu"

    def __init__(self, device_name: str, diff_method: str | None = None) -> None:
        if device_name not in DIFF_METHODS:
            raise ValueError(
                f"unknown PennyLane device {device_name!r}; allowed: {', '.join(DIFF_METHODS)}"
            )
        allowed = DIFF_METHODS[device_name]
        if diff_method is not None and diff_method not in allowed:
            raise ValueError(
                f"diff_method {diff_method!r} is not available on {device_name}; "
                f"allowed: {', '.join(allowed)}"
            )
        self.device_name = device_name
        self.diff_method = diff_method or allowed[0]
        self.name = _NAMES[device_name]

    def _evaluate(self, circuit: Circuit, observable: Observable, theta, choices, params: list[int], dtype: str):
        """Costs ``(S,)`` and gradients ``(S, len(params))`` (None if no params), one sample at a time."""
        cost = self._cost_function(circuit, observable, dtype)
        costs = np.empty(len(theta))
        grads = np.empty((len(theta), len(params))) if params else None
        for s, (row, choice_row) in enumerate(zip(theta, choices)):
            if grads is None:
                costs[s] = cost(pnp.array(row, requires_grad=False), choice_row)
                continue
            gradient = qml.grad(cost, argnums=0)
            grads[s] = gradient(pnp.array(row, requires_grad=True), choice_row)[params]
            costs[s] = gradient.forward
        return costs, grads

    def _cost_function(
        self, circuit: Circuit, observable: Observable, dtype: str
    ) -> Callable[[pnp.ndarray, np.ndarray], float]:
        """⟨O⟩ as a differentiable function of (theta row, choices row); the constant is added here."""
        n = circuit.n_qubits
        options = {"c_dtype": np.dtype(dtype).type} if self.device_name == "lightning.qubit" else {}
        dev = qml.device(self.device_name, wires=n, **options)
        pauli_sum = _pauli_sum(observable)

        @qml.qnode(dev, diff_method=self.diff_method, interface="autograd")
        def qnode(x, choice_row):
            for op in circuit.ops:
                _apply(op, x, choice_row)
            measurements = [qml.expval(qml.Projector([0] * n, wires=range(n)))]
            if pauli_sum is not None:
                measurements.append(qml.expval(pauli_sum))
            return measurements

        def cost(x, choice_row):
            values = qnode(x, choice_row)
            total = observable.constant + observable.projector_coeff * values[0]
            return total + values[1] if pauli_sum is not None else total

        return cost


def _apply(op: Op, x: pnp.ndarray, choice_row: np.ndarray) -> None:
    """Queue one gate of the description as PennyLane's own operation (the reference for the
    engine's rewriting into primitive gates)."""
    if op.gate == "UNITARY":
        qml.QubitUnitary(matrix(op), wires=op.wires)
        return
    if not op.is_rotation:
        _FIXED[op.gate](wires=op.wires)
        return
    angle = op.scale * x[op.param] + op.offset if op.is_trainable else op.angle
    if op.gate == "RZX":
        qml.PauliRot(angle, "ZX", wires=op.wires)
    elif op.gate == "PAULIROT":
        qml.PauliRot(angle, op.pauli, wires=op.wires)
    elif op.gate in _PARAMETERISED:
        _PARAMETERISED[op.gate](angle, wires=op.wires)
    else:
        gate = _AXES[int(choice_row[op.choice])] if op.gate == "RP" else _ROTATIONS[op.gate]
        gate(angle, wires=op.wires[0])


def _pauli_sum(observable: Observable) -> qml.operation.Operator | None:
    """The Pauli-string part of the observable as one PennyLane operator (None if it has none)."""
    if not observable.terms:
        return None
    coeffs = [coeff for coeff, _ in observable.terms]
    words = [qml.prod(*(_PAULIS[letter](w) for w, letter in string)) for _, string in observable.terms]
    return qml.dot(coeffs, words)

