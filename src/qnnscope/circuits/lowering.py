"""Rewrite any circuit into the engine's primitive gates (:data:`~.description.PRIMITIVES`).

The engine executes one-qubit rotations (fused per wire), fixed one-qubit matrices, CZ
(diagonal, one elementwise pass per ladder) and CNOT (permutations, folded); every other gate is
rewritten exactly, up to a global phase, into these once per circuit structure:

* Pauli rotations exp(−iθP/2): a basis change per wire (H for X, RX(π/2) for Y), a CNOT fan-in
  onto the last wire, RZ(θ) there, and the mirror image;
* CRZ(θ) = RZ_t(θ/2) · CNOT · RZ_t(−θ/2) · CNOT (CRX and CRY conjugate the target), so a slot's
  gates carry scales ±a/2 of its affine expression a·θ + b;
* with ``phases=True`` (the statevector engine's plan), a Pauli rotation keeps its basis change
  but its core stays one diagonal Z-string rotation ``PAULIROT`` exp(−iθ Z⊗…⊗Z/2) instead of the
  CNOT fan-in, and CRZ(θ) = RZ_t(θ/2) · exp(+iθ Z_cZ_t/4): the engine applies every commuting
  diagonal of a layer (CZs and Z-string phases) in one elementwise pass.  Noise models and the
  hardware path keep the CNOT form (their channels follow each primitive gate);
* CY, SWAP and ISWAP through CNOTs, S and Pauli rotations; a fixed two-qubit unitary through
  qiskit's exact KAK decomposition (three CNOTs and one-qubit unitaries).

Trainable slots, choices, ties, layers and names are kept, so gradients computed on the lowered
circuit are the gradients of the original one.  PennyLane and qiskit-aer receive the original
gates (their native implementations are the reference the lowering is tested against).
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np

from qnnscope.circuits.description import PAULI_ROTATIONS, PRIMITIVES, UNITARY, Circuit, Op, matrix


def _angle(op: Op, factor: float = 1.0, gate: str = "RZ", wire: int | None = None) -> Op:
    """``gate`` on ``wire`` with ``op``'s angle expression multiplied by ``factor``."""
    wires = (op.wires[-1] if wire is None else wire,)
    if op.param is None:
        return Op(gate, wires, angle=factor * op.angle)
    return Op(gate, wires, param=op.param, scale=factor * op.scale, offset=factor * op.offset)


def _z_rotation(op: Op, wires: tuple[int, ...], factor: float = 1.0) -> Op:
    """exp(−iφ Z⊗…⊗Z/2) on ``wires`` with ``op``'s angle expression times ``factor`` (RZ on one wire)."""
    if len(wires) == 1:
        return _angle(op, factor, wire=wires[0])
    if op.param is None:
        return Op("PAULIROT", wires, angle=factor * op.angle, pauli="Z" * len(wires))
    return Op("PAULIROT", wires, param=op.param, scale=factor * op.scale, offset=factor * op.offset,
              pauli="Z" * len(wires))


def _pauli_rotation(op: Op, word: str, phases: bool = False) -> list[Op]:
    letters = [(w, p) for w, p in zip(op.wires, word) if p != "I"]
    into, back = [], []
    for w, p in letters:
        if p == "X":
            into.append(Op("H", (w,)))
            back.append(Op("H", (w,)))
        elif p == "Y":
            into.append(Op("RX", (w,), angle=math.pi / 2))
            back.append(Op("RX", (w,), angle=-math.pi / 2))
    if phases:
        return into + [_z_rotation(op, tuple(w for w, _ in letters))] + back
    last = letters[-1][0]
    fan = [Op("CNOT", (w, last)) for w, _ in letters[:-1]]
    return into + fan + [_angle(op, wire=last)] + fan[::-1] + back


def _controlled_z(op: Op, phases: bool = False) -> list[Op]:
    c, t = op.wires
    if phases:  # |1⟩⟨1|_c ⊗ RZ_t(θ) = exp(−iθZ_t/4) · exp(+iθ Z_cZ_t/4)
        return [_angle(op, 0.5), _z_rotation(op, (c, t), -0.5)]
    return [Op("CNOT", (c, t)), _angle(op, -0.5), Op("CNOT", (c, t)), _angle(op, 0.5)]


def _two_qubit_unitary(op: Op) -> list[Op]:
    """Exact KAK decomposition (global phase dropped) via qiskit's two-qubit decomposer."""
    from qiskit.circuit.library import CXGate
    from qiskit.quantum_info import Operator
    from qiskit.synthesis import TwoQubitBasisDecomposer

    a, b = op.wires
    wire = {0: b, 1: a}  # qiskit qubit 0 is the least significant bit: our second wire
    out = []
    for inst in TwoQubitBasisDecomposer(CXGate())(matrix(op)).data:
        qubits = [wire[inst.qubits[k]._index] for k in range(len(inst.qubits))]
        if inst.operation.name == "cx":
            out.append(Op("CNOT", tuple(qubits)))
        else:
            m = Operator(inst.operation).data
            out.append(Op(UNITARY, tuple(qubits), matrix=tuple(m.reshape(-1).tolist())))
    return out


def is_phase(op: Op) -> bool:
    """A diagonal Z-string rotation on several wires (kept whole by ``phases=True``)."""
    return op.gate == "PAULIROT" and len(op.wires) > 1 and set(op.pauli) == {"Z"}


def _is_primitive(op: Op, phases: bool) -> bool:
    return op.gate in PRIMITIVES or (op.gate == UNITARY and len(op.wires) == 1) or (phases and is_phase(op))


def lower_op(op: Op, phases: bool = False) -> list[Op]:
    """The primitive gates of one op, in application order (``phases``: keep diagonal
    Z-string rotations whole, see the module docstring)."""
    g = op.gate
    if _is_primitive(op, phases):
        return [op]
    if g in PAULI_ROTATIONS:
        return _pauli_rotation(op, op.pauli if g == "PAULIROT" else PAULI_ROTATIONS[g], phases)
    c, t = op.wires
    if g == "CRZ":
        return _controlled_z(op, phases)
    if g == "CRX":
        return [Op("H", (t,)), *_controlled_z(op, phases), Op("H", (t,))]
    if g == "CRY":
        return [Op("SDG", (t,)), Op("H", (t,)), *_controlled_z(op, phases), Op("H", (t,)), Op("S", (t,))]
    if g == "CY":
        return [Op("SDG", (t,)), Op("CNOT", (c, t)), Op("S", (t,))]
    if g == "SWAP":
        return [Op("CNOT", (c, t)), Op("CNOT", (t, c)), Op("CNOT", (c, t))]
    if g == "ISWAP":
        return [*lower_op(Op("RXX", op.wires, angle=-math.pi / 2), phases),
                *lower_op(Op("RYY", op.wires, angle=-math.pi / 2), phases)]
    return _two_qubit_unitary(op)


@lru_cache(maxsize=256)
def to_primitives(circuit: Circuit, phases: bool = False) -> Circuit:
    """``circuit`` with every gate rewritten into engine primitives (the same circuit object if
    it has none to rewrite); ``phases`` keeps diagonal Z-string rotations whole; cached per
    structure."""
    if all(_is_primitive(op, phases) for op in circuit.ops):
        return circuit
    ops = tuple(p for op in circuit.ops for p in lower_op(op, phases))
    return replace(circuit, ops=ops)


def dense_unitary(circuit: Circuit, theta, choices=()) -> np.ndarray:
    """The circuit's 2^n × 2^n unitary for one sample from its original gates' matrices
    (wire 0 most significant): an oracle for small n, independent of the lowering."""
    from scipy.linalg import expm

    n = circuit.n_qubits
    paulis = {"I": np.eye(2), "X": matrix(Op("X", (0,))), "Y": matrix(Op("Y", (0,))), "Z": matrix(Op("Z", (0,)))}
    u = np.eye(2**n, dtype=np.complex128)
    for op in circuit.ops:
        if op.is_rotation:
            theta_op = op.angle_of(theta)
            if op.gate in PAULI_ROTATIONS:
                word = op.pauli if op.gate == "PAULIROT" else PAULI_ROTATIONS[op.gate]
            elif op.gate == "RP":
                word = "XYZ"[int(choices[op.choice])]
            else:
                word = op.gate[-1]
            p = paulis[word[0]]
            for letter in word[1:]:
                p = np.kron(p, paulis[letter])
            local = expm(-0.5j * theta_op * p)
            if op.gate in ("CRX", "CRY", "CRZ"):
                local = np.block([[np.eye(2), np.zeros((2, 2))], [np.zeros((2, 2)), local]])
        else:
            local = matrix(op)
        u = _embed(local, op.wires, n) @ u
    return u


def _embed(local: np.ndarray, wires: tuple[int, ...], n: int) -> np.ndarray:
    """``local`` on ``wires`` (first most significant) as a 2^n matrix."""
    k = len(wires)
    rest = [w for w in range(n) if w not in wires]
    full = np.kron(local, np.eye(2 ** (n - k))).reshape([2] * (2 * n))
    order = list(wires) + rest
    perm = np.argsort(order)
    full = full.transpose(list(perm) + [n + p for p in perm])
    return full.reshape(2**n, 2**n)
