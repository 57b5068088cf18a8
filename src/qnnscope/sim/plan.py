"""Compile a :class:`Circuit` into an execution plan for the engine (once per structure).

The plan is a list of steps, each one pass over the state:

* ``OneQubit`` — a chain of consecutive single-qubit gates on one wire, fused into one 2×2
  matrix per sample (e.g. RY(π/4)·R_P(θ) in McClean's first layer, RY·RZ in the HEA);
* ``Diagonal`` — every diagonal gate that can be moved together (a whole CZ ladder, the CZs of an
  alternating sub-layer, a QAOA or HVA layer's RZZs): one ±1 sign per basis state,
  (−1)^(Σ x_a x_b) over its CZ pairs, times the phases of its Z-string rotations
  exp(−iφ_t Z_{S_t}/2), taken in groups of up to ``GROUP`` terms: per group and sample a table of
  2^GROUP phases, indexed by the parities of the basis state's bits in each term's wires;
* ``Permutation`` — consecutive CNOTs folded into one permutation of basis states, a GF(2)-linear
  map of the index bits.

Steps store only their gates' wires; the vectors over 2^n basis states are derived on demand by
bit arithmetic on the index (no (2^n × n) bit tables), and the CPU kernel never builds them at
all (:mod:`qnnscope.sim.layout`).

Scheduling walks the gate DAG greedily: ready single-qubit gates first (fusing chains per wire),
then the closure of ready diagonal gates, then ready permutations; the order of non-commuting
gates is never changed, and diagonal gates only move past each other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from qnnscope.circuits.description import Circuit, Op
from qnnscope.circuits.lowering import is_phase, to_primitives

AXIS = {"RX": 0, "RY": 1, "RZ": 2, "PAULIROT": 2}
"""Pauli axis of the fixed-axis rotations (RP takes it per sample); a Z-string rotation's R_Z
matrix holds its two phases e^{∓iφ/2} on the diagonal."""
GROUP = 3
"""Z-string rotations per phase table (2^GROUP entries per sample: 16 reals, two kernel columns)."""


@dataclass
class OneQubit:
    """Fused chain on ``wire``: factors in application order, each an op index."""

    wire: int
    factors: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Diagonal:
    """Product of CZ gates on the logical wire ``pairs`` (a multiset: CZ·CZ = I counts) and of the
    Z-string rotations ``terms`` (op indices, applied in groups :attr:`Plan.groups`)."""

    pairs: tuple[tuple[int, int], ...]
    terms: tuple[int, ...] = ()

    def vector(self, n: int) -> np.ndarray:
        """The ±1 sign of every basis state (float64, length 2^n, wire 0 most significant)."""
        x = np.arange(2**n, dtype=np.int64)
        parity = np.zeros(2**n, dtype=np.int64)
        for a, b in self.pairs:
            parity ^= (x >> (n - 1 - a)) & (x >> (n - 1 - b)) & 1
        return 1.0 - 2.0 * parity


@dataclass(frozen=True)
class Permutation:
    """ψ'[i] = ψ[perm[i]] for the CNOTs ``cnots`` (control, target), in application order."""

    cnots: tuple[tuple[int, int], ...]

    def perm(self, n: int) -> np.ndarray:
        """The gather index over 2^n basis states: perm = f₁∘f₂∘…∘f_k with f(x) = x ⊕ x_c·e_t."""
        p = np.arange(2**n, dtype=np.int64)
        for c, t in reversed(self.cnots):
            p ^= ((p >> (n - 1 - c)) & 1) << (n - 1 - t)
        return p

    def inverse(self) -> Permutation:
        """The inverse permutation (the same CNOTs in reverse order)."""
        return Permutation(self.cnots[::-1])


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
    groups: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # (Diagonal step, ≤ GROUP terms)


def _is_diagonal(op: Op) -> bool:
    return op.gate == "CZ" or is_phase(op)


def wire_mask(wires, bit: dict[int, int] | None = None, n: int | None = None) -> int:
    """The index bits of ``wires``: at ``bit[w]`` (counted from the least significant bit), or
    logical (wire 0 most significant of ``n``)."""
    return sum(1 << (bit[w] if bit is not None else n - 1 - w) for w in wires)


def compile_plan(circuit: Circuit, phases: bool = True) -> Plan:
    """Schedule ``circuit``, rewritten into primitive gates, into fused steps (see module
    docstring); ``phases=False`` lowers Z-string rotations to CNOTs and RZ (noise models apply
    their channels per primitive gate of that form)."""
    circuit = to_primitives(circuit, phases)
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

    steps: list[Step] = []
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
            terms = tuple(sorted(i for i in diag_ops if ops[i].gate != "CZ"))
            steps.append(Diagonal(tuple(sorted(ops[i].wires for i in diag_ops if ops[i].gate == "CZ")), terms))
            remaining -= len(diag_ops)
            continue
        cnots: list[tuple[int, int]] = []
        frontier = [i for i in {q[0] for q in queues if q} if ops[i].gate == "CNOT" and ready(i)]
        while frontier:
            for i in sorted(frontier):
                pop(i)
                cnots.append(ops[i].wires)
            frontier = [i for i in {q[0] for q in queues if q} if ops[i].gate == "CNOT" and ready(i)]
        if not cnots:
            raise RuntimeError("scheduler made no progress; circuit has an unsupported gate")
        steps.append(Permutation(tuple(cnots)))
        remaining -= len(cnots)
    rotations = [i for i, op in enumerate(ops) if op.is_rotation]
    groups = [(k, step.terms[g:g + GROUP]) for k, step in enumerate(steps) if isinstance(step, Diagonal)
              for g in range(0, len(step.terms), GROUP)]
    return Plan(circuit, steps, rotations, {i: k for k, i in enumerate(rotations)}, groups)
