"""Ansatz builders of the barren-plateau literature.

Every builder returns a :class:`~qnnscope.circuits.description.Circuit`; trainable slots are
numbered in gate order, so slot 0 is θ_{1,1} (first layer, first qubit) and the last slot is the
last layer's last rotation.
"""

from __future__ import annotations

import math
from typing import Callable

from qnnscope.circuits.description import Circuit, Op, assemble
from qnnscope.circuits.families import FAMILIES


def _cz_ladder(n: int) -> list[Op]:
    return [Op("CZ", (j, j + 1)) for j in range(n - 1)]


def mcclean(n_qubits: int, depth: int, identity_block: int = 0) -> Circuit:
    """McClean et al. 2018: RY(π/4) on every qubit, then ``depth`` layers of R_P(θ) on every
    qubit (P ∈ {X, Y, Z} drawn per sample, layer and qubit) each followed by a CZ ladder."""
    pre = [Op("RY", (j,), angle=math.pi / 4) for j in range(n_qubits)]
    layer = [Op("RP", (j,), param=j, choice=j) for j in range(n_qubits)] + _cz_ladder(n_qubits)
    return assemble(n_qubits, [layer] * depth, pre, "mcclean", identity_block)


def alternating(n_qubits: int, depth: int, identity_block: int = 0) -> Circuit:
    """Cerezo et al. 2021's alternating layered ansatz (PennyLane's SimplifiedTwoDesign):
    an RY layer, then per layer CZ on pairs (0,1),(2,3),… with RY on both qubits of each pair,
    then CZ on pairs (1,2),(3,4),… with RY on both qubits of each pair."""
    pre = [Op("RY", (j,), param=j) for j in range(n_qubits)]
    layer: list[Op] = []
    slot = 0
    for start in (0, 1):
        for a in range(start, n_qubits - 1, 2):
            layer += [Op("CZ", (a, a + 1)), Op("RY", (a,), param=slot), Op("RY", (a + 1,), param=slot + 1)]
            slot += 2
    return assemble(n_qubits, [layer] * depth, pre, "alternating", identity_block)


def rx_product(n_qubits: int, depth: int = 1, identity_block: int = 0) -> Circuit:
    """Cerezo et al.'s warm-up model V(θ) = ⊗_j RX(θ_j), repeated ``depth`` times."""
    layer = [Op("RX", (j,), param=j) for j in range(n_qubits)]
    return assemble(n_qubits, [layer] * depth, (), "rx_product", identity_block)


def hea(n_qubits: int, depth: int, identity_block: int = 0) -> Circuit:
    """Hardware-efficient ansatz: per layer RY then RZ on every qubit, then a CNOT ladder
    (0→1, 1→2, …, n−2→n−1)."""
    layer: list[Op] = []
    for j in range(n_qubits):
        layer += [Op("RY", (j,), param=2 * j), Op("RZ", (j,), param=2 * j + 1)]
    layer += [Op("CNOT", (j, j + 1)) for j in range(n_qubits - 1)]
    return assemble(n_qubits, [layer] * depth, (), "hea", identity_block)


LAYERED = ("mcclean", "alternating", "rx_product", "hea")
"""The layered ansätze of this module: any n ≥ 1 (alternating: n ≥ 2), any depth, identity blocks."""
ANSATZE: dict[str, Callable[..., Circuit]] = {
    "mcclean": mcclean,
    "alternating": alternating,
    "rx_product": rx_product,
    "hea": hea,
    **FAMILIES,
}
"""Registry of ansatz builders by name (the layered ansätze here and the literature's families of
:mod:`qnnscope.circuits.families`); the command line and the workflow look names up here."""


def build(name: str, n_qubits: int, depth: int, identity_block: int = 0) -> Circuit:
    """Build ansatz ``name``; unknown names and sizes raise a ValueError naming what is allowed."""
    if name not in ANSATZE:
        raise ValueError(f"unknown ansatz {name!r}; allowed: {', '.join(sorted(ANSATZE))}")
    if n_qubits < 1:
        raise ValueError(f"qubits must be >= 1, got {n_qubits}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return ANSATZE[name](n_qubits, depth, identity_block)


def same_as_builtin(circuit: Circuit, depth: int) -> str:
    """The name of the built-in ansatz or family whose circuit at this size and depth has
    ``circuit``'s structure (gates, wires, slots, angles; names aside), else
    ``structure:<hash>``: what seeds a user circuit's draws, so that a user's copy of a built-in
    reproduces its results bit for bit."""
    from qnnscope.circuits.importers import structure_hash

    identity = structure_hash(circuit)
    for name, builder in ANSATZE.items():
        try:
            candidate = builder(circuit.n_qubits, depth)
        except ValueError:
            continue
        if len(candidate.ops) == len(circuit.ops) and structure_hash(candidate) == identity:
            return name
    return f"structure:{identity}"
