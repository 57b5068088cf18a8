"""A user circuit written in qiskit, as a researcher would hand it to qnnscope.

``build(n_qubits, depth)`` returns a parameterised ``QuantumCircuit``: per layer, RY on every
qubit, then RZZ·RXX entanglers on the pairs (0,1),(2,3),… and then (1,2),(3,4),…, each gate with
its own ``Parameter``.  The config names it as ``circuit: config/circuits/brickwork.py:build``.
"""

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter


def build(n_qubits: int, depth: int) -> QuantumCircuit:
    qc = QuantumCircuit(n_qubits)
    for layer in range(depth):
        for q in range(n_qubits):
            qc.ry(Parameter(f"y_{layer}_{q}"), q)
        for start in (0, 1):
            for a in range(start, n_qubits - 1, 2):
                qc.rzz(Parameter(f"zz_{layer}_{a}"), a, a + 1)
                qc.rxx(Parameter(f"xx_{layer}_{a}"), a, a + 1)
    return qc
