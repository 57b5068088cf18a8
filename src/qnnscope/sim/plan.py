"""Compile a :class:`Circuit` into an execution plan for the engine (once per structure).

The plan is a list of steps, each one pass over the state:

* ``OneQubit`` — a chain of consecutive single-qubit gates on one wire, fused into one 2×2
  matrix per sample (e.g. RY(π/4)·R_P(θ) in McClean's first layer, RY·RZ in the HEA);
* ``Diagonal`` — every diagonal gate that can be moved together (a whole CZ ladder, the CZs of an
  alternating sub-layer) multiplied into one precomputed diagonal;
* ``Permutation`` — consecutive CNOTs folded into one permutation of basis states.

Scheduling walks the gate DAG greedily: ready single-qubit gates first (fusing chains per wire),
then the closure of ready diagonal gates, then ready permutations; the order of non-commuting
gates is never changed, and diagonal gates only move past each other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from qnnscope.circuits.description import Circuit, Op
from qnnscope.circuits.lowering import to_primitives

AXIS = {"RX": 0, "RY": 1, "RZ": 2}
"""Pauli axis of the fixed-axis rotations (RP takes it per sample)."""


@dataclass
class OneQubit:
    """Fused chain on ``wire``: factors in application order, each an op index."""

    wire: int
    factors: list[int] = field(default_factory=list)


@dataclass
class Diagonal:
    """Product of diagonal gates as one vector over basis states (real when all entries are ±1)."""

    diag: np.ndarray


@dataclass
class Permutation:
    """ψ'[i] = ψ[perm[i]] for a product of CNOTs."""

    perm: np.ndarray


Step = OneQubit | Diagonal | Permutation


@dataclass
class Plan:
    """Compiled circuit: steps plus the bookkeeping the engine needs to build per-sample matrices;
    ``circuit`` is the primitive circuit (:func:`~qnnscope.circuits.lowering.to_primitives`) whose
    op indices the steps refer to."""

    circuit: Circuit
    steps: list[Step]
    rotations: list[int]  # op indices of all rotation gates, in op order
    rot_pos: dict[int, int]  # op index -> position in ``rotations``


def _bits(n: int) -> np.ndarray:
    """(2^n, n) array of basis-state bits, wire 0 most significant."""
    idx = np.arange(2**n)
    return (idx[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1


def _is_diagonal(op: Op) -> bool:
    return op.gate == "CZ"


def compile_plan(circuit: Circuit) -> Plan:
    """Schedule ``circuit``, rewritten into primitive gates, into fused steps (see module docstring)."""
    circuit = to_primitives(circuit)
    n = circuit.n_qubits
    ops = circuit.ops
    queues: list[deque[int]] = [deque() for _ in range(n)]
    for i, op in enumerate(ops):
        for w in op.wires:
            queues[w].append(i)

    def ready(i: int) -> bool:
        return all(queues[w] and queues[w][0] == i for w in ops[i].wires)

    def pop(i: int) -> None:
        for w in ops[i].wires:
            queues[w].popleft()

    bits = _bits(n)
    steps: list[Step] = []
    signs: dict[tuple, np.ndarray] = {}  # identical CZ multisets (every ladder) share one vector
    remaining = len(ops)
    while remaining:
        progressed = False
        for w in range(n):  # fuse every ready single-qubit chain
            chain = []
            while queues[w] and len(ops[queues[w][0]].wires) == 1:
                chain.append(queues[w].popleft())
            if chain:
                steps.append(OneQubit(w, chain))
                remaining -= len(chain)
                progressed = True
        if progressed:
            continue
        diag_ops = []
        frontier = [i for i in {q[0] for q in queues if q} if _is_diagonal(ops[i]) and ready(i)]
        while frontier:
            for i in frontier:
                pop(i)
                diag_ops.append(i)
            frontier = [i for i in {q[0] for q in queues if q} if _is_diagonal(ops[i]) and ready(i)]
        if diag_ops:
            pairs = tuple(sorted(ops[i].wires for i in diag_ops))  # a multiset: CZ·CZ = I counts
            if pairs not in signs:
                sign = np.ones(2**n)
                for a, b in pairs:
                    sign *= 1 - 2 * (bits[:, a] & bits[:, b])
                signs[pairs] = sign
            steps.append(Diagonal(signs[pairs]))
            remaining -= len(diag_ops)
            continue
        perm = np.arange(2**n)
        taken = 0
        frontier = [i for i in {q[0] for q in queues if q} if ops[i].gate == "CNOT" and ready(i)]
        while frontier:
            for i in sorted(frontier):
                c, t = ops[i].wires
                pop(i)
                # ψ'[x] = ψ[x ⊕ (x_c · e_t)] composed after the permutation so far
                flip = bits[:, c] << (n - 1 - t)
                perm = perm[np.arange(2**n) ^ flip]
                taken += 1
            frontier = [i for i in {q[0] for q in queues if q} if ops[i].gate == "CNOT" and ready(i)]
        if not taken:
            raise RuntimeError("scheduler made no progress; circuit has an unsupported gate")
        steps.append(Permutation(perm))
        remaining -= taken
    rotations = [i for i, op in enumerate(ops) if op.is_rotation]
    return Plan(circuit, steps, rotations, {i: k for k, i in enumerate(rotations)})
